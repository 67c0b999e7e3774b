/** The CodeLens on trim.config.json: run TRIM with this file, open the TRIM settings. */
import * as vscode from 'vscode';
import { CONFIG_FILE } from './launch';
import { SETTINGS_QUERY } from './rerun';

export function registerConfigCodeLens(context: vscode.ExtensionContext): void {
  const lensProvider: vscode.CodeLensProvider = {
    provideCodeLenses: (doc) => {
      const top = new vscode.Range(0, 0, 0, 0);
      return [
        new vscode.CodeLens(top, { title: '$(play) Run TRIM with this file', command: 'trim.runConfig', arguments: [doc.uri] }),
        new vscode.CodeLens(top, { title: 'TRIM settings', command: 'workbench.action.openSettings', arguments: [SETTINGS_QUERY] }),
      ];
    },
  };
  context.subscriptions.push(vscode.languages.registerCodeLensProvider({ pattern: `**/${CONFIG_FILE}` }, lensProvider));
}
