#!/usr/bin/env python3
"""Write a gzipped newc cpio archive (a Linux initramfs) from a spec, without the host's cpio.

Usage: mkcpio.py OUT.cpio.gz SPEC
SPEC lines (as the kernel's gen_init_cpio): `dir PATH MODE`, `file PATH SOURCE MODE`,
`slink PATH TARGET MODE`, `nod PATH MODE c|b MAJOR MINOR`. Every entry is owned by root with
mtime 0, so the archive depends only on its inputs (the same inputs give the same bytes).
"""
import gzip
import os
import stat
import sys


def header(ino, mode, nlink, size, name, rdev=(0, 0)):
    fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    h = b'070701' + b''.join(b'%08X' % f for f in fields) + name.encode() + b'\0'
    return h + b'\0' * (-len(h) % 4)


def main():
    out, spec = sys.argv[1], sys.argv[2]
    data = bytearray()
    ino = 1
    for line in open(spec):
        w = line.split()
        if not w or w[0].startswith('#'):
            continue
        kind, path = w[0], w[1].lstrip('/')
        if kind == 'dir':
            data += header(ino, stat.S_IFDIR | int(w[2], 8), 2, 0, path)
        elif kind == 'file':
            body = open(w[2], 'rb').read()
            data += header(ino, stat.S_IFREG | int(w[3], 8), 1, len(body), path) + body
            data += b'\0' * (-len(body) % 4)
        elif kind == 'slink':
            body = w[2].encode()
            data += header(ino, stat.S_IFLNK | int(w[3], 8), 1, len(body), path) + body
            data += b'\0' * (-len(body) % 4)
        elif kind == 'nod':
            t = stat.S_IFCHR if w[3] == 'c' else stat.S_IFBLK
            data += header(ino, t | int(w[2], 8), 1, 0, path, (int(w[4]), int(w[5])))
        else:
            sys.exit(f'mkcpio: unknown entry kind {kind!r}')
        ino += 1
    data += header(0, 0, 1, 0, 'TRAILER!!!')
    tmp = out + '.tmp'
    with open(tmp, 'wb') as f:
        # mtime=0 and no file name in the gzip header: reproducible bytes.
        with gzip.GzipFile(filename='', mode='wb', fileobj=f, mtime=0, compresslevel=6) as g:
            g.write(bytes(data))
    os.replace(tmp, out)


if __name__ == '__main__':
    main()
