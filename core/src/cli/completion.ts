import type { Argv } from 'yargs';
import { out } from '../call/context.js';
import { command } from './context.js';

/**
 * Shell completion. The scripts ask tsnet itself for the candidates of the words typed so far
 * (`tsnet --get-yargs-completions WORDS...`, yargs' completion protocol), so they follow every
 * command and option without being regenerated; through the launcher that call is answered by the
 * warm worker in a few milliseconds (or by the direct path for a non-root user).
 */
export const COMPLETION_KEY = '--get-yargs-completions';

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

const BASH = `# bash completion for tsnet (tsnet completion bash)
# Install: tsnet completion bash > /etc/bash_completion.d/tsnet   (or source it from ~/.bashrc)
_tsnet_completions() {
  local cur=\${COMP_WORDS[COMP_CWORD]} IFS=$'\\n'
  local -a words=("\${COMP_WORDS[@]:0:COMP_CWORD+1}")
  local -a cands
  cands=($(tsnet ${COMPLETION_KEY} "\${words[@]}" 2>/dev/null))
  COMPREPLY=($(compgen -W "\${cands[*]}" -- "$cur"))
}
complete -o bashdefault -o default -F _tsnet_completions tsnet
`;

const ZSH = `#compdef tsnet
# zsh completion for tsnet (tsnet completion zsh)
# Install: tsnet completion zsh > "\${fpath[1]}/_tsnet"   (or source it from ~/.zshrc after compinit)
_tsnet() {
  local -a cands
  cands=("\${(@f)$(tsnet ${COMPLETION_KEY} "\${(@)words[1,CURRENT]}" 2>/dev/null)}")
  if (( \${#cands} )) && [[ -n "\${cands[1]}" ]]; then
    compadd -- "\${cands[@]}"
  else
    _default
  fi
}
if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _tsnet "$@"
else
  compdef _tsnet tsnet
fi
`;

export const completionScript = (shell: Shell): string => (shell === 'zsh' ? ZSH : BASH);

/**
 * yargs' candidates as bare words, one a line. yargs adds `:description` to each when it believes
 * the shell is zsh (from SHELL of the process, which in the worker is not the caller's), with
 * colons in the word escaped: the word is what comes before the first unescaped colon.
 */
export function bareCandidates(output: string): string {
  return output
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (/^((?:[^:\\]|\\.)*)/u.exec(l)?.[1] ?? l).replace(/\\:/gu, ':'))
    .map((l) => `${l}\n`)
    .join('');
}

export function completionCommands(y: Argv): Argv {
  return command(y, 'completion <shell>', 'print a shell completion script for tsnet (bash or zsh)', (a) =>
    a.positional('shell', { choices: SHELLS, describe: 'the shell' })
      .example('tsnet completion bash > /etc/bash_completion.d/tsnet', 'completion for every bash user (new shells)')
      .example('source <(tsnet completion bash)', 'completion in this bash only')
      .example('tsnet completion zsh > /usr/local/share/zsh/site-functions/_tsnet', 'completion for zsh (a directory in $fpath)'),
  async (argv) => {
    out(completionScript(argv['shell'] as Shell));
  });
}
