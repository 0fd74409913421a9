import { spawn } from 'node:child_process';

/**
 * `--open`: hands the URL to the desktop's opener (`open` on macOS, `start` on Windows, `xdg-open`
 * elsewhere). Best effort: no opener, no display, a failing opener: nothing happens, the server runs on.
 */
export function openBrowser(url: string, platform: NodeJS.Platform = process.platform): void {
  const [cmd, args] =
    platform === 'darwin' ? ['open', [url]] : platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {
    // spawn can throw synchronously (e.g. EACCES); --open is a nicety
  }
}
