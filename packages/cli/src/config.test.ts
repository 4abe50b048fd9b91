import { configDir, resolveSettings, useColor } from './config';

describe('resolveSettings', () => {
  it('flags win over the environment, which wins over the defaults', () => {
    const env = { AOETL_API_URL: 'http://env:1/', AOETL_PROFILE: 'ci', AOETL_OUTPUT: 'yaml', XDG_CONFIG_HOME: '/cfg' };
    expect(resolveSettings({}, env)).toMatchObject({ apiUrl: 'http://env:1', profile: 'ci', output: 'yaml', configDir: '/cfg/aoetl' });
    expect(resolveSettings({ apiUrl: 'http://flag:2', output: 'json', profile: 'p' }, env)).toMatchObject({
      apiUrl: 'http://flag:2',
      output: 'json',
      profile: 'p',
    });
    expect(resolveSettings({}, {})).toMatchObject({ apiUrl: 'http://127.0.0.1:8080', issuer: 'https://127.0.0.1:9400', profile: 'default', output: 'table' });
  });
  it('refuses an unknown output format', () => {
    expect(() => resolveSettings({}, { AOETL_OUTPUT: 'xml' })).toThrow('--output must be table, json or yaml (got "xml")');
  });
  it('puts the config under ~/.config without XDG_CONFIG_HOME, and AOETL_CONFIG_DIR overrides', () => {
    expect(configDir({})).toMatch(/\.config\/aoetl$/);
    expect(configDir({ AOETL_CONFIG_DIR: '/x' })).toBe('/x');
  });
});

describe('useColor', () => {
  it('only on a terminal, never with NO_COLOR or --no-color', () => {
    expect(useColor({ isTTY: true }, {})).toBe(true);
    expect(useColor({ isTTY: false }, {})).toBe(false);
    expect(useColor({ isTTY: true }, { NO_COLOR: '' })).toBe(false);
    expect(useColor({ isTTY: true }, {}, false)).toBe(false);
  });
});
