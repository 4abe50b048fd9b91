import type { Command } from 'commander';

/** `path → words` for every command: its subcommands and options (path '' is the top level). */
export function completionTable(program: Command): Map<string, string[]> {
  const table = new Map<string, string[]>();
  const walk = (cmd: Command, path: string) => {
    const words = [...cmd.commands.map((c) => c.name()), ...cmd.options.flatMap((o) => [o.long ?? o.short ?? ''].filter(Boolean))];
    if (path === '') words.push('--help');
    table.set(path, words);
    for (const c of cmd.commands) walk(c, path ? `${path} ${c.name()}` : c.name());
  };
  walk(program, '');
  return table;
}

function bash(program: Command): string {
  const table = completionTable(program);
  const cases = [...table].map(([path, words]) => `    "${path}") words="${words.join(' ')}" ;;`).join('\n');
  const known = [...table.keys()].filter(Boolean).map((p) => `|${p}|`).join('');
  return `# aoetl completion for bash: source <(aoetl completion bash)
_aoetl() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" cand w i words=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    cand="\${path:+$path }$w"
    case "${known}" in *"|$cand|"*) path="$cand" ;; esac
  done
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _aoetl aoetl
`;
}

function fish(program: Command): string {
  const lines = ['# aoetl completion for fish: aoetl completion fish > ~/.config/fish/completions/aoetl.fish', 'complete -c aoetl -f'];
  for (const [path, words] of completionTable(program)) {
    const parts = path ? path.split(' ') : [];
    const cond = parts.length === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${parts[parts.length - 1]}`;
    const subs = words.filter((w) => !w.startsWith('-'));
    if (subs.length) lines.push(`complete -c aoetl -n '${cond}' -a '${subs.join(' ')}'`);
    for (const opt of words.filter((w) => w.startsWith('--'))) lines.push(`complete -c aoetl -n '${cond}' -l ${opt.slice(2)}`);
  }
  return `${lines.join('\n')}\n`;
}

export function completionScript(program: Command, shell: 'bash' | 'zsh' | 'fish'): string {
  if (shell === 'fish') return fish(program);
  if (shell === 'zsh') return `# aoetl completion for zsh: source <(aoetl completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n${bash(program)}`;
  return bash(program);
}
