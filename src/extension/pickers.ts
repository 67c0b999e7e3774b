/**
 * Choosing what a command acts on: the run given by its caller (a Runs row, an id) or picked from
 * the list, and the model to prune (the demo, a recent one, a folder, the Hugging Face cache, a
 * download: modelPicker.ts).
 */
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import { demoModelPath } from './configResolve';
import { workspaceFolder } from './launch';
import { pickModel as pickModelFrom } from './modelPicker';
import { pickItem } from './runLabels';
import type { RunRecord, RunStore } from './runStore';
import type { RunsTree } from './runsTree';

export interface PickersDeps {
  extensionPath: string;
  store: RunStore;
  /** Its scope (this workspace, or all) is the pickers' scope. */
  tree: RunsTree;
  workspaceKey: string;
  log: vscode.LogOutputChannel;
}

export interface Pickers {
  /** The run a command was given: a run id or a Runs row (RunRecord). */
  runFromArg(arg: unknown): RunRecord | undefined;
  /** The one run that passes `filter`, or the one the user picks; undefined when none. */
  pickRun(placeHolder: string, filter: (r: RunRecord) => boolean): Promise<RunRecord | undefined>;
  pickModel(): Promise<string | undefined>;
  /** A checkpoint folder chosen in the open dialog. */
  browseModel(): Promise<string | undefined>;
}

export function createPickers(d: PickersDeps): Pickers {
  const { store, tree, log } = d;

  const browseModel = async (): Promise<string | undefined> => {
    const picked = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      openLabel: 'Prune this model',
      title: 'A Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json)',
      defaultUri: workspaceFolder()?.uri,
    });
    return picked?.[0]?.fsPath;
  };

  return {
    runFromArg: (arg) => {
      if (typeof arg === 'string') return store.get(arg);
      if (arg && typeof arg === 'object' && 'id' in arg && typeof (arg as RunRecord).id === 'string')
        return store.get((arg as RunRecord).id);
      return undefined;
    },
    pickRun: async (placeHolder, filter) => {
      const runs = store.list(tree.scopeAll ? undefined : d.workspaceKey).filter(filter);
      if (runs.length === 0) {
        void vscode.window.showInformationMessage('TRIM: no run to choose from.');
        return undefined;
      }
      if (runs.length === 1) return runs[0];
      const item = await vscode.window.showQuickPick(
        runs.map((r) => ({ ...pickItem(r), run: r })),
        { placeHolder, matchOnDescription: true, matchOnDetail: true },
      );
      return item?.run;
    },
    pickModel: async () => {
      const demo = demoModelPath(d.extensionPath);
      const recent = [...new Set(store.list(d.workspaceKey).map((r) => r.options.model))]
        .filter((m) => m !== demo && existsSync(m))
        .slice(0, 5);
      // The demo, a folder, the Hugging Face cache, a download by model id (modelPicker.ts).
      return pickModelFrom({ demo, recent, browse: () => browseModel(), log });
    },
    browseModel,
  };
}
