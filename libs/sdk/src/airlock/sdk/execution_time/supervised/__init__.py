"""Supervised children: the one mechanism for every process that runs user code.

Task processes (forked by the worker's zygote), DAG-file parsers (the DAG processor's pool), and
the triggerer's and callback processor's children are all a *parent* that holds credentials and
a *child* that runs untrusted code and holds none. Each kind keeps its own policy (how many
children, whether they fork from a zygote, how long they may run); this package is what they
share:

- one channel format (:mod:`._framing`): length-prefixed msgpack frames of tagged
  :class:`Message` Structs, one prebuilt decoder per message family, a frame limit per channel,
  and a :class:`FrameError` that names the peer when it floods or sends garbage;
- one sandbox (:mod:`._sandbox`): the list of modules user code cannot import, the environment a
  child inherits, the child's own session, death with its parent and OOM priority, and the
  parent's protection of its memory;
- one confinement (:mod:`._confine`): a memory cap, an unprivileged user when started as root,
  and a Landlock ruleset narrowing what the child can open;
- one way to start, time out, kill (the whole process group) and reap (:mod:`._process`);
- what a killed parent's children left running, killed when the next parent starts
  (:mod:`._leftovers`).

A new kind of child (a trigger runner, a callback child) is a module whose entry point first calls
``enter_sandbox(parent_pid())`` and ``block_imports(...)``, then serves its own message families
(``Message`` subclasses, one ``msgspec.msgpack.Decoder`` per direction) with ``read_frame`` /
``write_frame``; its parent starts it with ``start_child(argv, env=child_environment(...),
stdin=PIPE, stdout=PIPE)``, reads its frames with a deadline, and ``close()``s it — which kills
its whole group — when it overruns, breaks the channel or is no longer needed.
"""

from airlock.sdk.execution_time.supervised._confine import (
    Confinement,
    confinement,
    default_user,
    landlock_abi,
    limit_memory,
    memory_limit_bytes,
    prepare_folder,
)
from airlock.sdk.execution_time.supervised._framing import (
    HEADER_SIZE,
    MAX_FRAME,
    FrameBuffer,
    FrameError,
    Message,
    decode_message,
    encode_frame,
    frame_payload,
    read_frame,
    write_frame,
)
from airlock.sdk.execution_time.supervised._leftovers import (
    forget_child,
    record_child,
    track_children,
)
from airlock.sdk.execution_time.supervised._process import (
    Child,
    adopt_orphans,
    kill_descendants,
    kill_process_group,
    start_child,
)
from airlock.sdk.execution_time.supervised._sandbox import (
    BLOCKED_MODULES,
    ORPHAN_EXIT_CODE,
    PARENT_PID_VARIABLE,
    PASSED_ENV,
    BlockedImportFinder,
    block_imports,
    child_environment,
    enter_sandbox,
    forget_environment_variable,
    parent_pid,
    protect_memory,
    set_parent_death_signal,
    take_channel,
)

__all__ = [
    "BLOCKED_MODULES",
    "HEADER_SIZE",
    "MAX_FRAME",
    "ORPHAN_EXIT_CODE",
    "PARENT_PID_VARIABLE",
    "PASSED_ENV",
    "BlockedImportFinder",
    "Child",
    "Confinement",
    "FrameBuffer",
    "FrameError",
    "Message",
    "adopt_orphans",
    "block_imports",
    "child_environment",
    "confinement",
    "decode_message",
    "default_user",
    "encode_frame",
    "enter_sandbox",
    "forget_child",
    "forget_environment_variable",
    "frame_payload",
    "kill_descendants",
    "kill_process_group",
    "landlock_abi",
    "limit_memory",
    "memory_limit_bytes",
    "parent_pid",
    "prepare_folder",
    "protect_memory",
    "read_frame",
    "record_child",
    "set_parent_death_signal",
    "start_child",
    "take_channel",
    "track_children",
    "write_frame",
]
