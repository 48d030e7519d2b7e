"""Confinement: what the operating system lets a process that runs user code reach.

Import blocking stops honest mistakes; it cannot stop user code from opening a file or reading
another process through ``/proc``. A :class:`Confinement`, applied in the child before any user
code runs (:func:`confine`), asks the kernel instead:

- a memory cap (``RLIMIT_DATA``: heap and private mappings), so one DAG file or task cannot take
  the host's memory; going over it is a ``MemoryError`` in the child;
- when the process runs as root, an unprivileged ``user`` (``setgroups``/``setgid``/``setuid``):
  the control plane's key files, the DB file and every token holder's ``/proc`` entries are then
  another user's. Folders the child needs but that user could not reach through their parents
  (a Python installed under ``/root``, a bundle under a private temp folder) are shown to it in a
  private mount namespace, where each blocking parent is an empty ``tmpfs`` holding only those
  folders, at the same paths;
- where the kernel has Landlock (Linux 5.13+), a ruleset that lets the process open only its
  ``readable`` folders (read and execute), its ``writable`` ones (read and write), the Python
  install and the system's libraries and configuration. It also narrows a process that could not
  change user (Airlock not started as root): the same-user key files are out of its reach.

A parent passes the confinement to its child in :data:`CONFINEMENT_VARIABLE` (see
:func:`~._process.start_child`); the child reads it with :func:`confinement`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pwd
import resource
import stat
import sys
from collections.abc import Iterable

import msgspec

log = logging.getLogger("airlock.sandbox")

#: The environment variable that carries a child's :class:`Confinement` (JSON).
CONFINEMENT_VARIABLE = "AIRLOCK_CONFINEMENT"

#: Read and execute, for every process that runs Python: the system's programs and libraries,
#: and the configuration a program expects (certificates, time zones, name resolution, users) —
#: not the whole of /etc, where a service's own settings may live.
SYSTEM_READABLE = (
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/bin",
    "/sbin",
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/nsswitch.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/passwd",
    "/etc/group",
    "/etc/ld.so.cache",
    "/etc/mime.types",
)
#: Devices any program expects to open.
SYSTEM_DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/full")


class Confinement(msgspec.Struct, frozen=True, kw_only=True):
    """What a child may reach; every field has a default so older children keep decoding it."""

    #: Run as this user when started as root (``None``: stay the user it was started as).
    user: str | None = None
    #: ``RLIMIT_DATA`` in bytes (``None``: no cap).
    memory_limit_bytes: int | None = None
    #: Folders (or files) it may read and execute, besides the Python install and the system's.
    readable: tuple[str, ...] = ()
    #: Folders it may read and write (its temp folder).
    writable: tuple[str, ...] = ()
    #: Where Landlock is available, restrict what the process can open to the lists above.
    landlock: bool = True


def default_user(configured: str | None, setting: str = "run_as_user") -> str | None:
    """The user to run user code as: ``configured`` (an empty string: do not change user);
    unset, ``nobody`` when this process is root, else ``None`` (stay this user). A ``ValueError``
    names a user this system does not have."""
    user = (configured or None) if configured is not None else "nobody"
    if user is None or os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise ValueError(
            f"{setting} {user!r} is not a user of this system: create it, or name another "
            "(an empty value runs user code as this process's own user)"
        ) from None
    return user


def encode_confinement(confinement: Confinement) -> str:
    return msgspec.json.encode(confinement).decode()


def confinement() -> Confinement | None:
    """The confinement this process's parent asked for (removed from the environment)."""
    raw = os.environ.pop(CONFINEMENT_VARIABLE, None)
    return msgspec.json.decode(raw, type=Confinement) if raw else None


def prepare_folder(path: str, user: str | None) -> None:
    """Hand a folder the child writes to (its temp folder) to the user it will run as."""
    if user is not None and os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def confine(confinement: Confinement) -> None:
    """Apply ``confinement`` to this process, in this order: memory cap, private view of the
    folders (if the user changes), Landlock, then the user. Raises ``OSError`` when the user
    cannot be switched to (the child must not run user code unconfined)."""
    if confinement.memory_limit_bytes:
        limit_memory(confinement.memory_limit_bytes)
    account = _account(confinement.user)
    readable = [*python_folders(), *confinement.readable]
    if account is not None:
        try:
            _show_only_reachable([*readable, *confinement.writable], account)
        except OSError as exc:
            log.warning(
                "cannot give user code a private view of its folders (%s); folders %s cannot "
                "reach through their parents stay out of its reach",
                exc,
                account.pw_name,
            )
    if confinement.landlock:
        restrict_filesystem(readable, confinement.writable)
    if account is not None:
        os.setgroups([])
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)
        os.environ["HOME"] = account.pw_dir
        os.environ["USER"] = os.environ["LOGNAME"] = account.pw_name


def limit_memory(limit_bytes: int) -> None:
    """Cap this process's heap and private mappings (what it inherits to its children too)."""
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit_bytes, hard))


def memory_limit_bytes() -> int | None:
    """This process's ``RLIMIT_DATA``, ``None`` when it has none."""
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    return None if soft == resource.RLIM_INFINITY else soft


def python_folders() -> list[str]:
    """The folders a Python child imports from: its installs and ``sys.path``."""
    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    folders.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted(folders)


def _account(user: str | None) -> pwd.struct_passwd | None:
    if user is None or os.geteuid() != 0:
        return None
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        raise OSError(f"run_as_user {user!r} is not a user of this system") from None
    return None if account.pw_uid == 0 else account


# --- a private view of folders the user could not reach ------------------------------------------

_CLONE_NEWNS = 0x00020000
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18


def _show_only_reachable(paths: Iterable[str], account: pwd.struct_passwd) -> None:
    """Make each of ``paths`` reachable for ``account`` at its own path: each parent folder it
    cannot traverse becomes, in a private mount namespace, a ``tmpfs`` that holds only them."""
    blocked: dict[str, list[str]] = {}
    for path in {os.path.realpath(p) for p in paths if os.path.exists(p)}:
        if os.path.isdir(path) and not _can_search(os.stat(path), account):
            continue  # shown, it would still be closed to the user, and hide what it holds
        parent = _first_blocked_parent(path, account)
        if parent is not None:
            blocked.setdefault(parent, []).append(path)
    # A blocked folder inside another is covered by the outer one's tmpfs.
    tops = [b for b in blocked if not any(b.startswith(o + "/") for o in blocked if o != b)]
    if not tops:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    _check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "make / private")
    for top in sorted(tops):
        wanted = {p for b, ps in blocked.items() if b == top or b.startswith(top + "/") for p in ps}
        # A folder inside another one shown is shown with it.
        inside = sorted(p for p in wanted if not any(p.startswith(o + "/") for o in wanted))
        handles = [os.open(p, os.O_PATH) for p in inside]
        try:
            _mount(libc, b"tmpfs", top, b"tmpfs", _MS_NOSUID | _MS_NODEV, b"mode=0755,size=1m")
            for path, handle in zip(inside, handles, strict=True):
                if os.path.isdir(f"/proc/self/fd/{handle}"):
                    os.makedirs(path, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
                _mount(libc, f"/proc/self/fd/{handle}".encode(), path, None, _MS_BIND | _MS_REC)
        finally:
            for handle in handles:
                os.close(handle)


def _first_blocked_parent(path: str, account: pwd.struct_passwd) -> str | None:
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts)):
        parent = "/" + "/".join(parts[:depth])
        if not _can_search(os.stat(parent), account):
            return parent
    return None


def _can_search(st: os.stat_result, account: pwd.struct_passwd) -> bool:
    if st.st_uid == account.pw_uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == account.pw_gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _mount(
    libc: ctypes.CDLL,
    source: bytes,
    target: str,
    fstype: bytes | None,
    flags: int,
    data: bytes | None = None,
) -> None:
    _check(libc.mount(source, target.encode(), fstype, flags, data), f"mount on {target}")


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what} failed: {os.strerror(errno)}")


# --- Landlock -------------------------------------------------------------------------------------

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
#: Every file-system right of each Landlock ABI version (index 0 unused).
_ABI_RIGHTS = [0, (1 << 13) - 1, (1 << 14) - 1, (1 << 15) - 1, (1 << 15) - 1, (1 << 16) - 1]
#: Rights that make sense on a file (not a folder): execute, write, read, truncate, ioctl.
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | (1 << 14) | (1 << 15)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where it has none (or it is disabled)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        version = int(
            libc.syscall(
                _SYS_CREATE_RULESET,
                None,
                ctypes.c_size_t(0),
                ctypes.c_uint32(_CREATE_RULESET_VERSION),
            )
        )
    except (OSError, AttributeError):
        return 0
    return max(version, 0)


def restrict_filesystem(readable: Iterable[str], writable: Iterable[str]) -> bool:
    """Let this process (and what it starts) open only ``readable`` (read, execute), ``writable``
    (everything), the system's folders and devices. Returns whether Landlock took effect."""
    abi = landlock_abi()
    if abi == 0 or sys.platform != "linux":
        log.warning(
            "Landlock is not available on this kernel: user code is not narrowed to its "
            "folders (run it as another user, or in a container, to keep files from it)"
        )
        return False
    handled = _ABI_RIGHTS[min(abi, len(_ABI_RIGHTS) - 1)]
    libc = ctypes.CDLL(None, use_errno=True)
    attr = _RulesetAttr(handled_access_fs=handled)
    ruleset = int(
        libc.syscall(
            _SYS_CREATE_RULESET,
            ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
            ctypes.c_uint32(0),
        )
    )
    _check(0 if ruleset >= 0 else -1, "landlock_create_ruleset")
    try:
        read = _EXECUTE | _READ_FILE | _READ_DIR
        rules = [(p, read) for p in [*SYSTEM_READABLE, *readable]]
        rules += [(p, handled) for p in writable]
        rules += [(p, _READ_FILE | _WRITE_FILE) for p in SYSTEM_DEVICES]
        # Its own /proc entry only (what it starts gets another): never another process's.
        rules.append((f"/proc/{os.getpid()}", _READ_FILE | _READ_DIR))
        for path, rights in rules:
            _add_rule(libc, ruleset, path, rights & handled)
        _check(_prctl(libc, _PR_SET_NO_NEW_PRIVS, 1), "prctl(PR_SET_NO_NEW_PRIVS)")
        _check(
            int(libc.syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0))),
            "landlock_restrict_self",
        )
    finally:
        os.close(ruleset)
    return True


def _add_rule(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, PermissionError):
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                rights &= _FILE_RIGHTS
            rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
            _check(
                int(
                    libc.syscall(
                        _SYS_ADD_RULE,
                        ruleset,
                        _RULE_PATH_BENEATH,
                        ctypes.byref(rule),
                        ctypes.c_uint32(0),
                    )
                ),
                f"landlock_add_rule({path})",
            )
        finally:
            os.close(fd)


def _prctl(libc: ctypes.CDLL, option: int, value: int) -> int:
    return int(
        libc.prctl(
            ctypes.c_int(option),
            ctypes.c_ulong(value),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )
    )
