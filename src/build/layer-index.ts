import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { Digest } from '../oci/index.js';
import type { Layer } from '../image/index.js';
import { decompressed, readTar } from '../snapshot/index.js';
import type { ExistingPath, FsView } from './copy/entries.js';

/** Files whose content the index keeps (what COPY --chown and USER resolution read). */
const KEEP = new Set(['etc/passwd', 'etc/group']);

interface IndexEntry extends ExistingPath {
  /** base64 content for KEEP files. */
  data?: string;
}

interface LayerIndex {
  entries: Record<string, IndexEntry>;
  whiteouts: string[];
  opaque: string[];
}

function norm(name: string): string {
  return posix.normalize(name.replace(/^\.?\/+/, '')).replace(/\/+$/, '').replace(/^\.$/, '');
}

async function buildIndex(stream: Readable): Promise<LayerIndex> {
  const idx: LayerIndex = { entries: {}, whiteouts: [], opaque: [] };
  // gzip, zstd or plain, sniffed (the media type may say either for the build's own layers);
  // read with the snapshot's tar reader, which enforces its limits on hostile headers.
  for await (const h of readTar((await decompressed(stream)).stream)) {
    const p = norm(h.name);
    const base = posix.basename(p);
    if (base === '.wh..wh..opq') idx.opaque.push(posix.dirname(p) === '.' ? '' : posix.dirname(p));
    else if (base.startsWith('.wh.')) idx.whiteouts.push(posix.join(posix.dirname(p), base.slice(4)).replace(/^\.\//, ''));
    else {
      const type = h.type === 'dir' ? 'dir' : h.type === 'file' || h.type === 'hardlink' ? 'file' : h.type === 'symlink' ? 'symlink' : 'other';
      const e: IndexEntry = { type, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid };
      if (KEEP.has(p) && h.type === 'file') {
        const chunks: Buffer[] = [];
        for await (const c of h.body) chunks.push(c);
        e.data = Buffer.concat(chunks).toString('base64');
      }
      idx.entries[p] = e;
    }
  }
  return idx;
}

/**
 * ADAPTER (until the unpack cache serves metadata lookups): a per-layer index of
 * paths (type, mode, owner) plus /etc/passwd and /etc/group contents, cached by
 * diffID under `dir`. Enough for COPY to know which parent directories exist
 * and to resolve --chown names without unpacking anything.
 */
export class LayerIndexCache {
  private readonly mem = new Map<Digest, Promise<LayerIndex>>();
  constructor(readonly dir: string) {}

  private load(layer: Layer): Promise<LayerIndex> {
    let p = this.mem.get(layer.diffId);
    if (!p) {
      p = (async () => {
        const file = join(this.dir, `${layer.diffId.replace(':', '-')}.json`);
        try {
          return JSON.parse(await readFile(file, 'utf8')) as LayerIndex;
        } catch {
          /* build it */
        }
        const idx = await buildIndex(await layer.open());
        await mkdir(this.dir, { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, JSON.stringify(idx));
        await rename(tmp, file);
        return idx;
      })();
      this.mem.set(layer.diffId, p);
    }
    return p;
  }

  /**
   * Opaque dirs of each layer as container paths ("/data"), topmost layer first
   * (the order of overlay lower dirs): what RootfsView needs to read unpacked
   * layer dirs, whose opaque xattrs Node cannot see.
   */
  async opaqueDirs(layers: readonly Layer[]): Promise<Set<string>[]> {
    const idx = await Promise.all(layers.map((l) => this.load(l)));
    return idx.map((x) => new Set(x.opaque.map((d) => posix.normalize('/' + d)))).reverse();
  }

  /** A view of the filesystem the layers make, top layer wins, whiteouts honoured. */
  view(layers: readonly Layer[]): FsView {
    const lookup = async (path: string): Promise<IndexEntry | undefined> => {
      const p = norm(path);
      if (p === '') return { type: 'dir', mode: 0o755, uid: 0, gid: 0 };
      for (let i = layers.length - 1; i >= 0; i--) {
        const idx = await this.load(layers[i] as Layer);
        const hit = idx.entries[p];
        if (hit) return hit;
        // hidden by a whiteout of itself or a parent, or an opaque parent in this layer
        let d = p;
        while (d !== '' && d !== '.') {
          if (idx.whiteouts.includes(d)) return undefined;
          d = posix.dirname(d) === '.' ? '' : posix.dirname(d);
          if (idx.opaque.includes(d) && idx.entries[d]) return undefined;
        }
      }
      return undefined;
    };
    return {
      stat: async (path) => {
        const e = await lookup(path);
        return e ? { type: e.type, mode: e.mode, uid: e.uid, gid: e.gid } : undefined;
      },
      readFile: async (path) => {
        const e = await lookup(path);
        return e?.data !== undefined ? Buffer.from(e.data, 'base64') : undefined;
      },
    };
  }
}
