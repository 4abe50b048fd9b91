import type { AddressInfo } from 'node:net';
import { Type } from '@sinclair/typebox';
import { Secret } from '@aoetl/config';
import { ConfigError } from '@aoetl/contracts';
import { bootService, type RunningService } from './service';
import { scrub } from './logger';

const Schema = Type.Object({
  AOETL_LOG_LEVEL: Type.String({ default: 'silent' }),
  AOETL_HTTP_HOST: Type.String({ default: '127.0.0.1' }),
  AOETL_METRICS_PORT: Type.Integer({ minimum: 0 }),
  AOETL_HTTP_PORT: Type.Optional(Type.Integer({ minimum: 0 })),
  AOETL_TOKEN: Secret(Type.String({ minLength: 1 })),
  AOETL_EVERY_MS: Type.Integer({ default: 250 }),
});

const env = { AOETL_METRICS_PORT: '0', AOETL_HTTP_PORT: '0', AOETL_TOKEN: 'service-test-token-123' };

function portOf(server: { server: { address(): unknown } }): number {
  return (server.server.address() as AddressInfo).port;
}

describe('bootService', () => {
  test('loads the config, serves /livez, /readyz and /metrics, listens on the API port, and shuts down in order', async () => {
    const steps: string[] = [];
    let ready = false;
    let listenedOn: { host: string; port: number } | undefined;
    const service = await bootService(
      {
        name: 'svc-test',
        config: Schema,
        async start({ config, registry }): Promise<RunningService> {
          steps.push(`start every=${config.AOETL_EVERY_MS}`);
          expect(registry.getSingleMetric('process_cpu_seconds_total')).toBeDefined();
          return {
            checks: {
              dependency: async () => {
                if (!ready) throw new Error('dependency down');
              },
            },
            api: {
              listen: async (opts) => void (listenedOn = opts),
              close: async () => void steps.push('api closed'),
            },
            stop: async () => void steps.push('stopped'),
          };
        },
      },
      env,
    );
    const base = `http://127.0.0.1:${portOf(service.ops)}`;
    try {
      expect(listenedOn).toEqual({ host: '127.0.0.1', port: 0 });
      expect(service.config.AOETL_EVERY_MS).toBe(250);
      // The secret config value is registered for scrubbing.
      expect(scrub('token=service-test-token-123')).toBe('token=[redacted]');
      expect((await fetch(`${base}/livez`)).status).toBe(200);
      const notReady = await fetch(`${base}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toEqual({ status: 'not ready', checks: { dependency: 'failed' } });
      expect(JSON.stringify(await (await fetch(`${base}/readyz`)).json())).not.toContain('dependency down');
      ready = true;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${base}/metrics`)).text()).toContain('service="svc-test"');
    } finally {
      await service.close();
    }
    expect(steps).toEqual(['start every=250', 'api closed', 'stopped']);
    await expect(fetch(`${base}/livez`)).rejects.toThrow();
  });

  test('a bad configuration fails with every bad variable named, before the service starts', async () => {
    const start = jest.fn();
    const failed = bootService({ name: 'svc-test', config: Schema, start }, { AOETL_METRICS_PORT: 'ninety' });
    await expect(failed).rejects.toBeInstanceOf(ConfigError);
    await expect(failed).rejects.toThrow(/AOETL_METRICS_PORT.*AOETL_TOKEN|AOETL_TOKEN.*AOETL_METRICS_PORT/);
    expect(start).not.toHaveBeenCalled();
  });

  test('a service with an API but no AOETL_HTTP_PORT is refused, and what it started is stopped', async () => {
    const stop = jest.fn(async () => undefined);
    const failed = bootService(
      {
        name: 'svc-test',
        config: Schema,
        start: async () => ({ checks: {}, api: { listen: async () => undefined, close: async () => undefined }, stop }),
      },
      { AOETL_METRICS_PORT: '0', AOETL_TOKEN: 'service-test-token-456' },
    );
    await expect(failed).rejects.toThrow(/has an API but its schema has no AOETL_HTTP_PORT/);
    expect(stop).toHaveBeenCalledTimes(1);
  });
});
