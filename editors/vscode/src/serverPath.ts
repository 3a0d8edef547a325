// Finding the `acdp` binary before starting the language client, so that a missing binary is
// told as what it is (with the setting to fix it) instead of vscode-languageclient's
// "couldn't create connection to server" and a `spawn acdp ENOENT` in the log.
import * as fs from 'fs';
import * as path from 'path';

/** Whether `file` is a file this process may run. */
function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * Where `command` (the `acdp.serverPath` setting) would be started from: a path with a
 * directory part as it is, a bare name from the directories of `pathEnv` (with Windows'
 * `PATHEXT` endings there); `undefined` when nothing runnable is there.
 */
export function resolveServer(
  command: string,
  pathEnv: string | undefined,
  platform: NodeJS.Platform = process.platform,
  pathExt: string | undefined = process.env.PATHEXT,
  runnable: (file: string) => boolean = isExecutableFile,
): string | undefined {
  const endings = platform === 'win32' ? ['', ...(pathExt ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  const candidates = (file: string) => endings.map((ending) => file + ending);
  if (command.includes('/') || (platform === 'win32' && command.includes('\\'))) {
    return candidates(command).find(runnable);
  }
  const separator = platform === 'win32' ? ';' : ':';
  for (const dir of (pathEnv ?? '').split(separator).filter((d) => d.length > 0)) {
    const found = candidates(path.join(dir, command)).find(runnable);
    if (found) {
      return found;
    }
  }
  return undefined;
}

/** What to tell the user when `resolveServer` found nothing. */
export function missingServerMessage(command: string): string {
  const where = command.includes('/') || command.includes('\\')
    ? `\`${command}\` does not exist or is not executable`
    : `\`${command}\` is not on the PATH of VS Code's extension host`;
  return (
    `acdp: cannot start the language server: ${where}. ` +
    'Build it (`cargo build --release` in the acdp checkout gives target/release/acdp, or ' +
    '`cargo install --path server/cli`) and set acdp.serverPath to the binary.'
  );
}
