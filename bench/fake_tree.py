#!/usr/bin/env python3
"""Write the mixed-owner tarball of bench/bench_fake.sh and the listing a faithful extraction
must reproduce.

    fake_tree.py TARBALL LISTING

About 30,000 entries, deterministic (fixed seed): directories, small regular files, symlinks
and hard links, owned by a mix of system and user ids, with set-user-ID, set-group-ID and
sticky bits among the modes.  LISTING has one line per entry, sorted, in the format of
`find DIR -printf '%P %y %U:%G %m\\n'` (symlinks without mode: their mode is always 777).
"""
import io
import random
import sys
import tarfile

OWNERS = [(0, 0), (0, 0), (0, 0), (1, 1), (2, 2), (33, 33), (100, 101), (105, 65534),
          (1000, 1000), (1001, 100), (65534, 65534), (0, 42)]
FILE_MODES = [0o644, 0o644, 0o644, 0o755, 0o600, 0o640, 0o4755, 0o2755, 0o6755, 0o444]
DIR_MODES = [0o755, 0o755, 0o700, 0o1777, 0o775]
N_DIRS, N_FILES, N_SYMLINKS, N_HARDLINKS = 1500, 26500, 1500, 500


def main() -> None:
    tarball, listing = sys.argv[1], sys.argv[2]
    rnd = random.Random(20261122)
    entries = {}  # path -> (type, uid, gid, mode)
    dirs = ["d"]
    files = []
    with tarfile.open(tarball, "w", format=tarfile.GNU_FORMAT) as tar:

        def add(info, data=None):
            info.mtime = 1700000000
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data) if data is not None else None)

        top = tarfile.TarInfo("d")
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        add(top)
        entries["d"] = ("d", 0, 0, 0o755)
        for i in range(N_DIRS):
            parent = rnd.choice(dirs)
            path = f"{parent}/dir{i}"
            uid, gid = rnd.choice(OWNERS)
            mode = rnd.choice(DIR_MODES)
            info = tarfile.TarInfo(path)
            info.type, info.uid, info.gid, info.mode = tarfile.DIRTYPE, uid, gid, mode
            add(info)
            dirs.append(path)
            entries[path] = ("d", uid, gid, mode)
        for i in range(N_FILES):
            path = f"{rnd.choice(dirs)}/file{i}"
            uid, gid = rnd.choice(OWNERS)
            mode = rnd.choice(FILE_MODES)
            data = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 2048)))
            info = tarfile.TarInfo(path)
            info.uid, info.gid, info.mode, info.size = uid, gid, mode, len(data)
            add(info, data)
            files.append(path)
            entries[path] = ("f", uid, gid, mode)
        for i in range(N_SYMLINKS):
            path = f"{rnd.choice(dirs)}/link{i}"
            uid, gid = rnd.choice(OWNERS)
            info = tarfile.TarInfo(path)
            info.type, info.uid, info.gid, info.mode = tarfile.SYMTYPE, uid, gid, 0o777
            info.linkname = "/" + rnd.choice(files)
            add(info)
            entries[path] = ("l", uid, gid, None)
        for i in range(N_HARDLINKS):
            target = rnd.choice(files)
            path = f"{rnd.choice(dirs)}/hard{i}"
            _, uid, gid, mode = entries[target]
            info = tarfile.TarInfo(path)
            info.type, info.uid, info.gid, info.mode = tarfile.LNKTYPE, uid, gid, mode
            info.linkname = target
            add(info)
            entries[path] = ("f", uid, gid, mode)
    with open(listing, "w") as out:
        lines = []
        for path, (kind, uid, gid, mode) in entries.items():
            if kind == "l":
                lines.append(f"{path} l {uid}:{gid}")
            else:
                lines.append(f"{path} {kind} {uid}:{gid} {mode:o}")
        out.write("\n".join(sorted(lines)) + "\n")


if __name__ == "__main__":
    main()
