/**
 * The CLI's `gpu` commands and its library path:
 *   trim gpu setup  [--from FILE | --provider-dir DIR] [--registry URL] [--save-tarball FILE] [--force] [--json]
 *   trim gpu doctor [--json]
 * and, for `prune` and `eval`, the job run in a child of the CLI (cliSupervisor.ts) whose
 * LD_LIBRARY_PATH holds the CUDA folders the doctor found (the dynamic loader reads it only when a
 * process starts; a child is used rather than an exec in place because Node cannot replace its own
 * process image).
 */
import type { Command } from 'commander';
import * as cliProgress from 'cli-progress';
import { spawnSync } from 'node:child_process';
import { isJobChild, JOB_CHILD, superviseJob } from './cliSupervisor';
import { Engine } from './core/ort/engine';
import { diagnose, doctorLines, jobEnv } from './core/gpu/doctor';
import { activeInstall, loadedOrtBinDir, userCacheBase } from './core/gpu/paths';
import { setupGpu, type SetupProgress } from './core/gpu/setup';

const MiB = 2 ** 20;

export function addGpuCommands(program: Command): void {
  const gpu = program.command('gpu').description("set up and check the NVIDIA GPU (ONNX Runtime's CUDA provider, CUDA libraries)");
  gpu
    .command('setup')
    .description(`download ONNX Runtime's CUDA provider from the npm registry (integrity checked) and install it in ${userCacheBase()}`)
    .option('--from <file>', 'install from this tarball of the provider package (brought in by hand; integrity checked)')
    .option('--provider-dir <dir>', 'copy the provider of an existing ONNX Runtime 1.29.0 install from this folder instead')
    .option('--registry <url>', "npm registry (default: npm's configuration, else https://registry.npmjs.org)")
    .option('--save-tarball <file>', 'also keep the verified tarball here (for a machine without network: --from)')
    .option('--force', 'reinstall even when an install is present')
    .option('--json', 'print the result as JSON')
    .action(async (a) => {
      const tty = process.stderr.isTTY && !a.json;
      let bar: cliProgress.SingleBar | null = null;
      let phase = '';
      const onProgress = (p: SetupProgress): void => {
        if (p.phase === 'download' && tty && p.total) {
          if (!bar) {
            bar = new cliProgress.SingleBar(
              { format: '  download [{bar}] {value}/{total} MiB · {duration_formatted}', stream: process.stderr, hideCursor: true },
              cliProgress.Presets.shades_classic,
            );
            bar.start(Math.round(p.total / MiB), 0);
          }
          bar.update(Math.round(p.done / MiB));
          return;
        }
        if (p.phase !== phase) {
          bar?.stop();
          bar = null;
          phase = p.phase;
          if (!a.json)
            console.error(
              {
                metadata: 'Reading the package metadata',
                download: 'Downloading',
                verify: 'Checking the integrity',
                extract: 'Extracting the provider libraries',
                copy: "Copying onnxruntime-node's binding",
              }[p.phase],
            );
        }
      };
      const ac = new AbortController();
      const onSignal = (): void => ac.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const r = await setupGpu({
          base: userCacheBase(),
          from: a.from,
          providerDir: a.providerDir,
          registry: a.registry,
          saveTarball: a.saveTarball,
          force: !!a.force,
          signal: ac.signal,
          onProgress,
        });
        (bar as cliProgress.SingleBar | null)?.stop();
        if (a.json)
          process.stdout.write(
            JSON.stringify({
              type: 'gpu_setup',
              status: r.status,
              dir: r.dir,
              downloaded: r.downloaded,
              seconds: r.seconds,
              source: r.manifest.source,
            }) + '\n',
          );
        else console.log(r.message);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
  gpu
    .command('doctor')
    .description('the NVIDIA driver, the card, the CUDA provider and every CUDA library it needs, and where each was found')
    .option('--json', 'print the diagnosis as JSON')
    .action((a) => {
      const d = diagnose({ providerBin: loadedOrtBinDir(), install: activeInstall() });
      // With everything found, a CUDA session is created for real, in a child started with the
      // library path that jobs get.
      let probe: string | null = null;
      if (d.ready) {
        const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1], 'gpu', 'probe'], {
          env: { ...(jobEnv(d) ?? process.env), [JOB_CHILD]: '1' },
          encoding: 'utf8',
          timeout: 120_000,
        });
        probe =
          r.status === 0
            ? 'a CUDA session was created'
            : `creating a CUDA session failed: ${(r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').pop()}`;
      }
      if (a.json) {
        process.stdout.write(JSON.stringify({ type: 'gpu_doctor', ...d, probe }) + '\n');
        return;
      }
      for (const l of doctorLines(d)) console.log(l);
      if (probe) console.log(`  check           ${probe}`);
    });
  gpu
    .command('probe', { hidden: true })
    .description('create a CUDA session (used by gpu doctor)')
    .action(async () => {
      await Engine.create('cuda');
    });
}

/**
 * For `prune` and `eval`: runs the job in a child of the CLI (cliSupervisor.ts) and returns its
 * exit code; null when this process runs the job itself. `prune` always runs in a child, so that a
 * stop reaches a device run in progress; `eval` (which writes nothing and ends at once on a signal)
 * only when the doctor finds the CUDA libraries in folders that this process's loader does not
 * search: the child then gets them on LD_LIBRARY_PATH (read by the loader only when a process
 * starts).
 */
export async function runWithCudaLibraries(argv = process.argv): Promise<number | null> {
  const cmd = argv[2];
  if ((cmd !== 'prune' && cmd !== 'eval') || isJobChild()) return null;
  const i = argv.indexOf('--ep');
  const ep = i > 0 ? argv[i + 1] : argv.find((x) => x.startsWith('--ep='))?.slice(5);
  let env: NodeJS.ProcessEnv | null = null;
  if (ep !== 'cpu') {
    try {
      const d = diagnose({ providerBin: loadedOrtBinDir() });
      env = d.driver.libcuda && d.provider.present ? jobEnv(d) : null;
    } catch {
      env = null;
    }
  }
  if (!env && cmd !== 'prune') return null;
  return superviseJob(argv, env ?? process.env);
}
