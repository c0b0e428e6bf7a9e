/** An empty app with the package installed from its packed tarball, as a user gets it (what dist/ holds now). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** `npm pack` into a new temporary app, then `npm install` of the tarball there; returns the app's folder. */
export function installPackedApp(): string {
  const app = mkdtempSync(join(tmpdir(), 'rmsprop-pool-app-'));
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', app], { cwd: root, stdio: 'ignore' });
  const tarball = readdirSync(app).find((f) => f.endsWith('.tgz'))!;
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  execFileSync(
    'npm',
    ['install', `./${tarball}`, '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', '--no-save'],
    { cwd: app, stdio: 'ignore' },
  );
  return app;
}

/** The optional tfjs peers, as a tfjs user has them: this clone's, linked into the app. */
export function linkTfjs(app: string): void {
  symlinkSync(join(root, 'node_modules/@tensorflow'), join(app, 'node_modules/@tensorflow'));
}
