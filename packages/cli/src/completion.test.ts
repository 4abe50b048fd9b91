import { execFileSync } from 'node:child_process';
import { buildProgram, type Io } from './program';
import { completionScript, completionTable } from './completion';

const io = { out: process.stdout, err: process.stderr, env: {}, exitCode: 0 } as unknown as Io;
const program = buildProgram(io, '0.0.0');

describe('completion', () => {
  it('lists subcommands and options per command path', () => {
    const table = completionTable(program);
    expect(table.get('')).toEqual(expect.arrayContaining(['pipelines', 'runs', '--output', '--help']));
    expect(table.get('pipelines')).toEqual(['list', 'get', 'create', 'apply', 'delete', 'versions', 'diff', 'rollback']);
    expect(table.get('runs start')).toEqual(['--wait', '--idempotency-key']);
  });

  it('the bash script completes a subcommand after options', () => {
    const script = completionScript(program, 'bash');
    const out = execFileSync('bash', ['-c', `${script}\nCOMP_WORDS=(aoetl -o json runs st); COMP_CWORD=4; _aoetl; echo "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
    expect(out.trim()).toBe('start');
  });

  it('zsh loads the bash function through bashcompinit; fish has one line per command', () => {
    expect(completionScript(program, 'zsh')).toContain('bashcompinit');
    expect(completionScript(program, 'fish')).toContain("complete -c aoetl -n '__fish_seen_subcommand_from approvals' -a 'list approve reject'");
  });
});
