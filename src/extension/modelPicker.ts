/**
 * "Which checkpoint should TRIM prune?": the demo model, a folder, the checkpoints already in the
 * local Hugging Face cache (with size and whether TRIM supports their family), a download by
 * model id into that cache, and recently pruned models.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { hfToken, hubCacheDir, scanHubCache, type CachedModel } from '../core/model/hfCache';
import { DownloadError, downloadModel } from '../core/model/hubDownload';
import { bytes } from './runActions';

export interface ModelPickerDeps {
  demo: string;
  recent: string[];
  browse(): Promise<string | undefined>;
  log: vscode.LogOutputChannel;
}

type Item = vscode.QuickPickItem & { model?: string; browse?: boolean; download?: boolean; cached?: CachedModel };

const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

export async function pickModel(d: ModelPickerDeps): Promise<string | undefined> {
  const cacheDir = hubCacheDir();
  const items = (async (): Promise<Item[]> => {
    const head: Item[] = [
      {
        label: '$(beaker) Demo model',
        description: 'trim-demo-qwen2-small · Qwen2 · 6.8M parameters · shipped with the extension',
        model: d.demo,
      },
      { label: '$(folder-opened) Open folder…', description: 'config.json, *.safetensors, tokenizer.json', browse: true },
      { label: '$(cloud-download) Download by model id…', description: 'from the Hugging Face Hub into its cache', download: true },
    ];
    let cached: Item[] = [];
    try {
      const { models, warnings } = await scanHubCache(cacheDir);
      for (const w of warnings) d.log.warn(`Hugging Face cache: ${w}`);
      cached = models.map((m) => ({
        label: `$(package) ${m.id}`,
        description: `${bytes(m.size)} · ${m.unsupported ? `$(warning) ${shorten(m.unsupported)}` : (m.architecture ?? '')}`,
        detail: m.path,
        model: m.path,
        cached: m,
      }));
    } catch (e) {
      d.log.warn(`could not scan the Hugging Face cache ${cacheDir}: ${(e as Error).message}`);
    }
    const recent: Item[] = d.recent.map((m) => ({ label: `$(history) ${path.basename(m)}`, description: m, model: m }));
    return [
      ...head,
      ...(cached.length ? [{ label: 'Hugging Face cache', kind: vscode.QuickPickItemKind.Separator }, ...cached] : []),
      ...(recent.length ? [{ label: 'recent', kind: vscode.QuickPickItemKind.Separator }, ...recent] : []),
    ];
  })();
  const pick = await vscode.window.showQuickPick(items, {
    placeHolder: 'Which checkpoint should TRIM prune?',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!pick) return undefined;
  if (pick.browse) return d.browse();
  if (pick.download) return downloadById(d, cacheDir);
  if (pick.cached?.unsupported) {
    void vscode.window.showErrorMessage(`TRIM: ${pick.cached.id} cannot be pruned: ${pick.cached.unsupported}`);
    return undefined;
  }
  return pick.model;
}

const shorten = (s: string): string => (s.length > 60 ? `${s.slice(0, 57)}…` : s);

async function downloadById(d: ModelPickerDeps, cacheDir: string): Promise<string | undefined> {
  const repo = (
    await vscode.window.showInputBox({
      title: 'Download a model from the Hugging Face Hub',
      prompt: `Its model id; it is saved in the Hugging Face cache (${cacheDir}), where transformers finds it too.`,
      placeHolder: 'Qwen/Qwen2.5-0.5B',
      validateInput: (v) => (MODEL_ID.test(v.trim()) ? null : 'A model id looks like ORG/NAME, e.g. Qwen/Qwen2.5-0.5B.'),
    })
  )?.trim();
  if (!repo) return undefined;
  const token = hfToken();
  d.log.info(`downloading ${repo} into ${cacheDir}${token ? ' (with a token)' : ''}`);
  const ac = new AbortController();
  try {
    const snap = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `TRIM: downloading ${repo}`, cancellable: true },
      async (progress, cancel) => {
        cancel.onCancellationRequested(() => ac.abort());
        let shown = 0;
        return downloadModel({
          repo,
          cacheDir,
          accessToken: token,
          signal: ac.signal,
          onProgress: (p) => {
            const now = p.total > 0 ? (100 * p.done) / p.total : 0;
            progress.report({ message: `${p.file} · ${bytes(p.done)} of ${bytes(p.total)}`, increment: Math.max(0, now - shown) });
            shown = Math.max(shown, now);
          },
        });
      },
    );
    d.log.info(`downloaded ${repo} → ${snap}`);
    return snap;
  } catch (e) {
    if (ac.signal.aborted) {
      void vscode.window.showInformationMessage(
        `TRIM: download of ${repo} cancelled; what arrived is kept, and downloading it again continues from there.`,
      );
      return undefined;
    }
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    const message =
      e instanceof DownloadError
        ? e.message
        : cause === 'ENOTFOUND' || cause === 'ECONNREFUSED' || cause === 'EAI_AGAIN' || cause === 'ETIMEDOUT'
          ? `huggingface.co cannot be reached (${cause}); the download needs a connection. What arrived is kept.`
          : (e as Error).message;
    d.log.error(`download of ${repo} failed: ${(e as Error).stack ?? e}`);
    void vscode.window.showErrorMessage(`TRIM: download of ${repo} failed: ${message}`);
    return undefined;
  }
}
