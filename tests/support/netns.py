"""Linux network namespaces for zone-isolation tests: a hub namespace (the control zone) joined
to each other zone's namespace by a veth pair, an nftables ruleset loaded into the hub, and
probes that try TCP connections from inside a zone. Everything is named with a per-run prefix
(tests of other checkouts may run at the same time) and removed by :meth:`Hub.close`.

Addresses are 10.250.N.0/30 links that exist only inside these namespaces: nothing is routed
out of them, and no traffic leaves the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field


class NamespacesUnavailable(RuntimeError):
    """This machine (or user) cannot make network namespaces or load nftables rules."""


def why_unavailable() -> str | None:
    """None when namespaces, veth pairs and nftables can be used here; else the reason."""
    if sys.platform != "linux":
        return "network namespaces are Linux-only"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"the `{tool}` command is missing (apt-get install iproute2 nftables)"
    probe = f"alprobe{secrets.token_hex(3)}"
    made = subprocess.run(
        ["ip", "netns", "add", probe], capture_output=True, text=True, check=False
    )
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    try:
        table = subprocess.run(
            ["ip", "netns", "exec", probe, "nft", "add", "table", "inet", "probe"],
            capture_output=True,
            text=True,
            check=False,
        )
        if table.returncode != 0:
            return f"nftables cannot be used in a namespace: {table.stderr.strip()}"
    finally:
        subprocess.run(["ip", "netns", "delete", probe], capture_output=True, check=False)
    return None


def run(*args: str, namespace: str | None = None) -> str:
    command = ["ip", "netns", "exec", namespace, *args] if namespace else list(args)
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise NamespacesUnavailable(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass
class Link:
    """A zone namespace and its veth pair to the hub: ``hub_address`` is the hub's end."""

    zone: str
    namespace: str
    hub_interface: str
    hub_address: str
    zone_address: str


@dataclass
class Hub:
    """The control namespace with one link per other zone."""

    prefix: str = field(default_factory=lambda: f"al{secrets.token_hex(3)}")
    links: dict[str, Link] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return f"{self.prefix}-ctl"

    def open(self, zones: list[str]) -> None:
        run("ip", "netns", "add", self.namespace)
        run("ip", "link", "set", "lo", "up", namespace=self.namespace)
        # A namespace starts with forwarding off; the hub must never route one zone to another.
        run("sysctl", "-qw", "net.ipv4.ip_forward=0", namespace=self.namespace)
        for number, zone in enumerate(zones, start=1):
            self._link(number, zone)

    def _link(self, number: int, zone: str) -> None:
        namespace = f"{self.prefix}-{zone[:3]}"
        hub_if, zone_if = f"{self.prefix}h{number}", f"{self.prefix}z{number}"
        hub_address, zone_address = f"10.250.{number}.1", f"10.250.{number}.2"
        run("ip", "netns", "add", namespace)
        self.links[zone] = Link(zone, namespace, hub_if, hub_address, zone_address)
        run("ip", "link", "add", hub_if, "type", "veth", "peer", "name", zone_if)
        run("ip", "link", "set", hub_if, "netns", self.namespace)
        run("ip", "link", "set", zone_if, "netns", namespace)
        run("ip", "addr", "add", f"{hub_address}/30", "dev", hub_if, namespace=self.namespace)
        run("ip", "link", "set", hub_if, "up", namespace=self.namespace)
        run("ip", "link", "set", "lo", "up", namespace=namespace)
        run("ip", "addr", "add", f"{zone_address}/30", "dev", zone_if, namespace=namespace)
        run("ip", "link", "set", zone_if, "up", namespace=namespace)
        # Every hub address is routable from the zone: only the firewall decides what answers.
        run("ip", "route", "add", "default", "via", hub_address, namespace=namespace)

    def allow_only(self, ports: dict[str, int]) -> str:
        """Load the hub's firewall: from each zone's link only TCP to ``ports[zone]`` (and
        replies) gets in, everything else is reset or dropped, and nothing is forwarded.
        Returns the ruleset as loaded."""
        lines = [
            "table inet airlock_zones {",
            "  chain input {",
            "    type filter hook input priority 0; policy accept;",
            "    ct state established,related accept",
            '    iifname "lo" accept',
        ]
        for zone, link in self.links.items():
            lines.append(f'    iifname "{link.hub_interface}" tcp dport {ports[zone]} accept')
        zone_ifs = ", ".join(f'"{link.hub_interface}"' for link in self.links.values())
        lines += [
            f"    iifname {{ {zone_ifs} }} meta l4proto tcp reject with tcp reset",
            f"    iifname {{ {zone_ifs} }} drop",
            "  }",
            "  chain forward {",
            "    type filter hook forward priority 0; policy drop;",
            "  }",
            "}",
        ]
        ruleset = "\n".join(lines) + "\n"
        command = ["ip", "netns", "exec", self.namespace, "nft", "-f", "-"]
        loaded = subprocess.run(
            command, input=ruleset, capture_output=True, text=True, timeout=30, check=False
        )
        if loaded.returncode != 0:
            raise NamespacesUnavailable(f"nft -f failed: {loaded.stderr.strip()}\n{ruleset}")
        return run("nft", "list", "ruleset", namespace=self.namespace)

    def exec_prefix(self, zone: str) -> list[str]:
        """The argv prefix that runs a command in ``zone``'s namespace (``control``: the hub)."""
        namespace = self.namespace if zone == "control" else self.links[zone].namespace
        return ["ip", "netns", "exec", namespace]

    def pids(self, zone: str) -> list[int]:
        namespace = self.namespace if zone == "control" else self.links[zone].namespace
        listed = subprocess.run(
            ["ip", "netns", "pids", namespace],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return [int(pid) for pid in listed.stdout.split()]

    def probe(self, zone: str, targets: list[tuple[str, int]]) -> dict[str, str]:
        """From inside ``zone``, try a TCP connection to each ``host:port``: ``open``,
        ``refused``, ``timeout`` or ``unreachable``."""
        result = subprocess.run(
            [*self.exec_prefix(zone), sys.executable, "-c", _PROBE, json.dumps(targets)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"probe from {zone} failed: {result.stderr}")
        answers: dict[str, str] = json.loads(result.stdout)
        return answers

    def close(self) -> None:
        """Kill whatever still runs in the namespaces, then delete them (and so their veths)."""
        namespaces = [self.namespace, *(link.namespace for link in self.links.values())]
        for namespace in namespaces:
            listed = subprocess.run(
                ["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False
            )
            for pid in listed.stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), 9)
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, check=False)


_PROBE = """
import errno, json, socket, sys
answers = {}
for host, port in json.loads(sys.argv[1]):
    try:
        socket.create_connection((host, port), timeout=1.5).close()
        answer = "open"
    except ConnectionRefusedError:
        answer = "refused"
    except TimeoutError:
        answer = "timeout"
    except OSError as exc:
        answer = "unreachable" if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH) else str(exc)
    answers[f"{host}:{port}"] = answer
print(json.dumps(answers))
"""
