// Turns `yardctl run -- CMD ARGS...` into the one shell line the task runs. Pure.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one word for /bin/sh so that it reaches the program unchanged. */
export function shellQuote(word: string): string {
  if (word !== "" && SAFE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * One argument is taken as a shell line as it is (`yardctl run -- 'echo $HOME | wc -c'`);
 * several are quoted word by word, so that `yardctl run -- sh -c 'exit 3'` runs exactly
 * that argv.
 */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 1) return argv[0];
  return argv.map(shellQuote).join(" ");
}
