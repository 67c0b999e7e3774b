/**
 * The GPU in the editor: "TRIM: Set Up GPU (CUDA)" (installs the CUDA provider into the
 * extension's global storage, with a cancellable progress notification), "TRIM: Check GPU" (the
 * doctor's diagnosis in a notification and the log), the worker's environment (the install to load
 * ONNX Runtime from, the CUDA library folders on LD_LIBRARY_PATH), a status-bar item that shows
 * the device of the running job and why, and a one-time offer to set up the GPU when a driver is
 * present but the provider is not.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { TrimEvent } from '../contract';
import { diagnose, doctorLines, jobEnv, type Diagnosis } from '../core/gpu/doctor';
import { activeInstall, binDir, installDir, readInstall } from '../core/gpu/paths';
import { setupGpu } from '../core/gpu/setup';

const OFFERED_KEY = 'trim.gpuSetupOffered';
const SETUP_HINT = '"TRIM: Set Up GPU (CUDA)"';

export class GpuSupport implements vscode.Disposable {
  private readonly status = vscode.window.createStatusBarItem('trim.device', vscode.StatusBarAlignment.Left, 10);
  private cached: { at: number; d: Diagnosis } | null = null;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.status.name = 'TRIM device';
    this.status.command = 'trim.checkGpu';
  }

  /** The extension's install when complete, else the CLI's (`trim gpu setup`), else null. */
  get install(): string | null {
    const dir = installDir(this.context.globalStorageUri.fsPath);
    return readInstall(dir) ? dir : activeInstall();
  }

  private providerSetting(): string {
    return vscode.workspace.getConfiguration('trim').get<string>('gpuProviderDir', '') ?? '';
  }

  /** The diagnosis for the worker's environment (without nvidia-smi; kept for a minute). */
  private diagnosis(fresh = false): Diagnosis {
    if (!fresh && this.cached && Date.now() - this.cached.at < 60_000) return this.cached.d;
    const install = this.install;
    const bin = install
      ? binDir(install)
      : path.join(this.context.extensionPath, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64');
    const d = diagnose({ providerBin: bin, install, setupHint: SETUP_HINT, gpus: fresh ? undefined : null });
    this.cached = { at: Date.now(), d };
    return d;
  }

  /** The worker's environment: ONNX Runtime from the install, and the CUDA folders the doctor found. */
  workerEnv(): NodeJS.ProcessEnv {
    const install = this.install;
    const env: NodeJS.ProcessEnv = { ...process.env, ...(install ? { TRIM_ORT_DIR: install } : {}) };
    if (!install) return env;
    try {
      return jobEnv(this.diagnosis(), env) ?? env;
    } catch (e) {
      this.log.warn(`GPU library search failed: ${(e as Error).message}`);
      return env;
    }
  }

  async setup(): Promise<void> {
    const providerDir = this.providerSetting() || undefined;
    const cli = activeInstall();
    if (cli && !providerDir && !readInstall(installDir(this.context.globalStorageUri.fsPath))) {
      void vscode.window.showInformationMessage(
        `TRIM: the CUDA provider is already installed in ${cli} (by \`trim gpu setup\`); jobs use it. Nothing to do.`,
      );
      return;
    }
    const r = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: 'TRIM: Setting up the GPU',
        cancellable: true,
      },
      async (progress, token) => {
        const ac = new AbortController();
        token.onCancellationRequested(() => ac.abort());
        let reported = 0;
        return setupGpu({
          base: this.context.globalStorageUri.fsPath,
          providerDir,
          signal: ac.signal,
          onProgress: (p) => {
            if (p.phase === 'download' && p.total) {
              const pctDone = Math.floor((100 * p.done) / p.total);
              progress.report({
                message: `downloading ONNX Runtime's CUDA provider (${(p.total / 2 ** 20).toFixed(0)} MiB)… ${pctDone}%`,
                increment: pctDone - reported,
              });
              reported = pctDone;
            } else if (p.phase !== 'download') {
              progress.report({
                message: {
                  metadata: 'reading the package metadata…',
                  verify: 'checking its integrity…',
                  extract: 'extracting…',
                  copy: providerDir ? `copying the provider from ${providerDir}…` : 'copying onnxruntime-node…',
                }[p.phase],
              });
            }
          },
        });
      },
    );
    this.cached = null;
    this.log.info(r.message);
    const d = this.diagnosis(true);
    void vscode.window.showInformationMessage(
      `TRIM: ${r.status === 'present' ? r.message : `${r.message.replace(/ in \/.*$/, '.')} ${d.summary}`}`,
    );
  }

  check(): Diagnosis {
    const d = this.diagnosis(true);
    for (const l of doctorLines(d)) this.log.info(`[gpu] ${l}`);
    const actions = !d.provider.present && d.driver.libcuda ? ['Set Up GPU', 'Show Log'] : ['Show Log'];
    void vscode.window.showInformationMessage(`TRIM: ${d.summary}`, ...actions).then((a) => {
      if (a === 'Set Up GPU') void vscode.commands.executeCommand('trim.setupGpu');
      else if (a === 'Show Log') this.log.show(true);
    });
    return d;
  }

  /** A job's events: the status-bar item while it runs; the one-time offer when CUDA was asked for but the provider is missing. */
  onEvent(e: TrimEvent): void {
    if (e.type === 'start') {
      const why = e.device ?? (e.ep === 'cuda' ? 'CUDA' : 'CPU');
      const m = /^CUDA: (.+?), ([\d.]+) of ([\d.]+) GiB free/.exec(why);
      this.status.text = e.ep === 'cuda' ? `$(chip) ${m ? `${m[1]} · ${m[2]}/${m[3]} GiB` : 'GPU'}` : '$(chip) CPU';
      this.status.tooltip = `TRIM runs this job on ${e.ep === 'cuda' ? 'the GPU' : 'the CPU'}: ${why}${e.epNotice ? `\n${e.epNotice}` : ''}\nClick to check the GPU.`;
      this.status.show();
      if (e.ep === 'cpu' && e.options.ep !== 'cpu') this.offerSetup();
    } else if (e.type === 'done' || e.type === 'error') {
      this.status.hide();
    }
  }

  /** Offered once per user (remembered in globalState), when an NVIDIA driver is there but the provider is not. */
  private offerSetup(): void {
    if (this.context.globalState.get<boolean>(OFFERED_KEY)) return;
    const d = this.diagnosis();
    if (!d.driver.libcuda || d.provider.present) return;
    void this.context.globalState.update(OFFERED_KEY, true);
    void vscode.window
      .showInformationMessage(
        "TRIM: this machine has an NVIDIA driver, but ONNX Runtime's CUDA provider is not installed, so TRIM runs on the CPU. Set it up now (a one-time download of about 170 MB)?",
        'Set Up GPU',
        'Not Now',
      )
      .then((a) => {
        if (a === 'Set Up GPU') void vscode.commands.executeCommand('trim.setupGpu');
      });
  }

  /** No job runs (finished, failed, cancelled): the item goes. */
  idle(): void {
    this.status.hide();
  }

  dispose(): void {
    this.status.dispose();
  }
}
