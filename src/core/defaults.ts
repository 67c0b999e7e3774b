/** The embedded defaults shipped in media/: the demo model and the two texts. */
import * as fs from 'node:fs';
import * as path from 'node:path';

let root: string | null = null;

/** The project (or installed extension) root: the nearest folder above this file holding media/models. */
export function projectRoot(): string {
  if (root) return root;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'media', 'models'))) return (root = dir);
    dir = path.dirname(dir);
  }
  throw new Error(`media/models not found above ${__dirname}`);
}

export const defaults = {
  model: (): string => path.join(projectRoot(), 'media', 'models', 'trim-demo-qwen2-small'),
  calib: (): string => path.join(projectRoot(), 'media', 'data', 'calib.txt'),
  evalText: (): string => path.join(projectRoot(), 'media', 'data', 'eval-brown.txt'),
};
