#!/usr/bin/env python3
"""Write guise.json: Docker's default seccomp profile plus exactly what guise needs.

Docker's profile is read from Debian's golang-github-docker-docker-dev (the source of the
docker.io package; the same profile dockerd compiles in), so the result follows the installed
Docker release:

    python3 contrib/seccomp/generate.py [DEFAULT_JSON] > contrib/seccomp/guise.json

What is added, and why (Docker allows these only with CAP_SYS_ADMIN, CAP_SYS_CHROOT or
CAP_SYS_PTRACE, or not at all; inside guise's own user namespace the kernel still checks the
capabilities, now those of that namespace, so nothing is gained outside it):
  - clone, unshare: with namespace flags, for the container's user, mount, pid, ipc, uts, net
    and cgroup namespaces;
  - mount, umount2, umount, pivot_root, and the new mount API (fsopen, fsconfig, fsmount,
    fspick, move_mount, open_tree, mount_setattr): the container's root and its mounts;
  - sethostname, setdomainname: the container's own uts namespace;
  - chroot: processes in the container that chroot (dpkg --root, debootstrap);
  - setns: the same, for tools that enter a namespace of their container;
  - pidfd_getfd, process_vm_readv, process_vm_writev, ptrace: the faking supervisor reads the
    arguments of its container's calls and takes their descriptors (guise falls back to
    /proc/PID/fd and /proc/PID/mem without them, slower).
"""
import json
import sys

DEFAULT = "/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json"
ADDED = sorted([
    "clone", "unshare", "setns",
    "mount", "umount", "umount2", "pivot_root",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    "sethostname", "setdomainname", "chroot",
    "pidfd_getfd", "process_vm_readv", "process_vm_writev", "ptrace",
])

profile = json.load(open(sys.argv[1] if len(sys.argv) > 1 else DEFAULT))
# Conditional rules for what is now allowed outright would only repeat it (clone's rule allows
# it without namespace flags, for callers without CAP_SYS_ADMIN).
syscalls = []
for rule in profile["syscalls"]:
    if rule["action"] == "SCMP_ACT_ALLOW" and (rule.get("includes") or rule.get("excludes") or rule.get("args")):
        names = [n for n in rule["names"] if n not in ADDED]
        if not names:
            continue
        rule = dict(rule, names=names)
    syscalls.append(rule)
syscalls.insert(1, {
    "names": ADDED,
    "action": "SCMP_ACT_ALLOW",
    "args": [],
    "comment": "guise: namespaces, mounts and the syscall-faking supervisor (contrib/seccomp/generate.py)",
    "includes": {},
    "excludes": {},
})
profile["syscalls"] = syscalls
json.dump(profile, sys.stdout, indent=2)
sys.stdout.write("\n")
