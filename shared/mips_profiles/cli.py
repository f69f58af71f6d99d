"""mips-profiles: publish CMS MIPS files as per-NPI JSON documents.

Exit status: 0 on success, 1 when the input or the run is refused or a repair leaves objects it cannot
rebuild (one line ``error: ...`` on stderr, nothing published or changed), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence

from . import __version__
from .adapters.terminal_progress import for_cli
from .errors import ConfigurationError, MipsProfilesError, Terminated
from .orchestration.local import print_outcomes, refresh_tree, run_lock, store_for, stores, warn_published
from .orchestration.refresh import RefreshReport
from .ports import BlobStore
from .publishing.publish import Publisher, PublishResult, ReleaseInfo
from .sandbox.generator import generate_file
from .text import printable


def cmd_publish(args: argparse.Namespace) -> int:
    public, private = stores(args.out, args.private)
    with run_lock(private):
        result = Publisher(public, private, progress=for_cli()).publish_file(
            # A local path is the operator's business, not the public's: the manifest identifies the file
            # by its SHA-256 (refresh records the CMS download URL instead).
            args.source,
            ReleaseInfo(performance_year=args.performance_year),
            force=args.force,
        )
    _report(result, public, private)
    if args.json:
        print(
            json.dumps(
                {
                    "performance_year": result.performance_year,
                    "release_id": result.release_id,
                    **result.counts(),
                    "unknown_columns": result.unknown_columns,
                    "final_score_check": result.final_score_check,
                    "warnings": result.warnings,
                }
            )
        )
    return 0


def _report(result: PublishResult, public: BlobStore, private: BlobStore) -> None:
    out = sys.stderr
    print(
        f"PY{result.performance_year}: {result.rows_read} rows read, {result.rows_rejected} rejected, "
        f"{result.npis} NPIs; documents: {result.docs_written} written, {result.docs_unchanged} unchanged, "
        f"{result.docs_deleted} deleted",
        file=out,
    )
    print(f"  public tree:  {public.describe()}/v1/", file=out)
    print(f"  audit:        {private.describe()}/{result.audit_key}", file=out)
    if result.quarantine_key:
        print(f"  quarantine:   {private.describe()}/{result.quarantine_key}", file=out)
    check = result.final_score_check or {}
    if check.get("share") is not None:
        print(
            f"  final-score check: {check['reproduced']:,} of {check['entries_with_final_score']:,} final scores "
            f"({check['share']:.1%}) reproduced by the category scores and weights the documents show",
            file=out,
        )
    warn_published(f"PY{result.performance_year}", result.unknown_columns, result.warnings)


def cmd_repair(args: argparse.Namespace) -> int:
    public, private = stores(args.out, args.private, existing=True)
    with run_lock(private):
        report = Publisher(public, private).repairer().repair()
    print(
        f"repair: {report.documents_checked:,} documents checked; {len(report.restored):,} objects restored, "
        f"{len(report.deleted):,} stray documents deleted",
        file=sys.stderr,
    )
    for key in report.restored[:20]:
        print(f"  restored {key}", file=sys.stderr)
    for key in report.not_repairable:
        print(
            f"  not repairable from private state: {key} (restore its previous version or re-publish the year)",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(report.to_dict()))
    return 1 if report.not_repairable else 0  # 2 is for usage errors only


def run_refresh(args: argparse.Namespace, *, quiet: bool = False) -> RefreshReport:
    report = refresh_tree(
        args.out,
        args.private,
        catalog_url=args.catalog_url,
        pdc_url=None if args.no_pdc else args.pdc_url,
        state_path=args.state,
        performance_year=args.performance_year,
        force=args.force,
        hash_check=not args.no_hash_check,
        allow_hosts=tuple(getattr(args, "allow_host", None) or ()),
        allow_loopback_http=bool(getattr(args, "allow_loopback_http", False)),
        quiet=quiet,
    )
    if not quiet:
        print_outcomes(report)
    return report


def cmd_refresh(args: argparse.Namespace) -> int:
    report = run_refresh(args)
    if args.json:
        print(json.dumps(report.as_dict()))
    return 0 if report.ok else 1


def cmd_generate(args: argparse.Namespace) -> int:
    if os.path.isdir(args.out) or not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise ConfigurationError(f"--out {args.out!r} must be a file path in an existing directory")
    info = generate_file(
        args.performance_year, args.out, rows=args.rows, seed=args.seed, title_case_header=args.title_case
    )
    print(
        f"wrote {info.path}: PY{info.performance_year}, {info.rows} rows, {info.npis} NPIs, {info.columns} columns",
        file=sys.stderr,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run refresh against a loopback CMS stand-in: two years, then a CMS correction."""
    from .sandbox.demo import run_demo

    return run_demo(args.out)


def cmd_serve(args: argparse.Namespace) -> int:
    from .consumers.serve import make_server

    if not _is_loopback(args.host) and not args.allow_non_loopback:
        raise ConfigurationError(
            f"--host {printable(args.host, 100)} is not a loopback address: serve is a local preview, not a server "
            "(add --allow-non-loopback to expose it to the network anyway)"
        )

    server = make_server(args.dir, host=args.host, port=args.port, cors_origins=args.cors_origin, quiet=args.quiet)
    host, port = server.server_address[:2]
    origins = ", ".join(args.cors_origin) or "none (same-origin only)"
    print(
        f"serving {os.path.abspath(args.dir)} on http://{host!s}:{port}/v1/manifest.json (CORS: {origins}); "
        "Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # `kill` stops it as cleanly as Ctrl-C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .consumers.report import write_report

    if not (args.tree.startswith("s3://") or os.path.isdir(args.tree)):
        raise ConfigurationError(f"{args.tree}: no such directory (give --tree, the --out of publish or refresh)")
    files = write_report(store_for(args.tree), args.out)
    for path in [*files.histograms, files.table]:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def contract_markdown() -> str:
    """The display contract as a Markdown table (docs/display-contract.md embeds it; a test keeps them equal)."""
    from .core.contract import load_contract

    contract = load_contract()
    lines = [
        "| field | display | public path | type | source columns (by PY) | description |",
        "|---|---|---|---|---|---|",
    ]
    for f in contract.fields:
        sources = (
            "; ".join(
                f"{s.years[0]}-{s.years[1]}: "
                + " / ".join(f"`{c}`" for c in s.columns)
                + (f" (n={s.slots[0]}-{s.slots[1]})" if s.slots else "")
                for s in f.sources
            )
            or "(from the release)"
        )
        display = "**allowed**" if f.display_allowed else "write-locked"
        lines.append(f"| `{f.name}` | {display} | {f.public_path or ''} | {f.type} | {sources} | {f.description} |")
    return "\n".join(lines) + "\n"


def cmd_execution_name(args: argparse.Namespace) -> int:
    from .orchestration.execution_names import execution_name

    try:
        with open(args.input, encoding="utf-8") as f:
            request = json.load(f)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {args.input}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigurationError(f"{args.input} is not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise ConfigurationError(f"{args.input} must hold one JSON object (the execution input)")
    print(execution_name(request, today=args.date))
    return 0


def cmd_contract(args: argparse.Namespace) -> int:
    sys.stdout.write(contract_markdown())
    return 0


def _int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (a usage error naming the range otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not from {low} to {high}")
        return value

    parse.__name__ = "whole number"
    return parse


YEAR = _int_in(2017, 2100)


def _tree_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="public tree root (v1/... is written here), or s3://BUCKET/PREFIX"
    )
    parser.add_argument(
        "--private", metavar="DIR", help="private data root (default: DIR.private beside --out), or s3://BUCKET/PREFIX"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mips-profiles", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("publish", help="ingest one CMS QPP Experience file into a tree")
    p.add_argument(
        "--performance-year", type=YEAR, required=True, metavar="YYYY", help="the performance year the file is CMS's of"
    )
    p.add_argument("--source", required=True, metavar="FILE", help="the CMS CSV file")
    _tree_arguments(p)
    p.add_argument(
        "--force",
        action="store_true",
        help="publish even if a gate refuses (over 1%% rows rejected, over 10%% fewer rows than before)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON line with the counts last")
    p.set_defaults(func=cmd_publish)

    rep = sub.add_parser(
        "repair",
        help="restore the public tree from the private state: documents and bulk files rebuilt from the entries, "
        "the manifest, change objects and aggregates from their records; delete documents no entry explains. "
        "The tree must exist",
    )
    _tree_arguments(rep)
    rep.add_argument("--json", action="store_true", help="print the repair report as one JSON object last")
    rep.set_defaults(func=cmd_repair)

    from .core.catalog import DEFAULT_CATALOG_URL, DEFAULT_PDC_URL

    r = sub.add_parser("refresh", help="check CMS for new years and corrections; download, publish, record")
    r.add_argument("--catalog-url", default=DEFAULT_CATALOG_URL, metavar="URL", help="DCAT data.json URL")
    r.add_argument(
        "--pdc-url",
        default=DEFAULT_PDC_URL,
        metavar="URL",
        help="Provider Data Catalog metastore item URL of a174-a962",
    )
    r.add_argument("--no-pdc", action="store_true", help="skip the PDC clinician score file")
    _tree_arguments(r)
    r.add_argument("--state", metavar="PATH", help="state file (default: PRIVATE/state.json)")
    r.add_argument("--performance-year", type=YEAR, metavar="YYYY", help="only this performance year")
    r.add_argument("--force", action="store_true", help="re-download and re-publish the year even if unchanged")
    r.add_argument(
        "--no-hash-check",
        action="store_true",
        help="trust unchanged catalog metadata instead of re-downloading to compare hashes",
    )
    r.add_argument(
        "--allow-host",
        action="append",
        metavar="HOST",
        help="also download from HOST and its subdomains (default: cms.gov only; https only)",
    )
    r.add_argument(
        "--allow-loopback-http",
        action="store_true",
        help="allow plain http to 127.0.0.1/localhost (tests and the demo's CMS stand-in only)",
    )
    r.add_argument("--json", action="store_true", help="print one JSON object with per-year outcomes last")
    r.set_defaults(func=cmd_refresh)

    g = sub.add_parser("generate", help="write a synthetic CMS file in a performance year's layout")
    g.add_argument(
        "--performance-year", type=YEAR, required=True, metavar="YYYY", help="write the file in this year's layout"
    )
    g.add_argument("--rows", type=_int_in(1, 10_000_000), default=1000, help="rows to write (default: %(default)s)")
    g.add_argument(
        "--seed",
        type=_int_in(0, 2**32 - 1),
        default=7,
        help="same seed, same file (default: %(default)s)",
    )
    g.add_argument("--title-case", action="store_true", help="Title Case header, as some older CMS files")
    g.add_argument("--out", required=True, metavar="FILE", help="the CSV file to write")
    g.set_defaults(func=cmd_generate)

    s = sub.add_parser("serve", help="serve a published tree on loopback with the CDN's headers (local preview)")
    s.add_argument("dir", metavar="DIR", help="public tree root (the --out of publish/refresh)")
    s.add_argument(
        "--host",
        default="127.0.0.1",
        help="a loopback address to listen on (default: %(default)s); serve is a preview, not a server",
    )
    s.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="listen on a --host that is not loopback all the same (it then answers anyone who can reach it)",
    )
    s.add_argument("--port", type=_int_in(0, 65535), default=8000, help="0 picks a free port (default: %(default)s)")
    s.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="an origin allowed to fetch cross-origin, e.g. http://localhost:8080 (repeatable; * for any)",
    )
    s.add_argument("--quiet", action="store_true", help="no request log")
    s.set_defaults(func=cmd_serve)

    rp = sub.add_parser("report", help="score histograms (SVG) and a band-share table (Markdown) from a tree")
    rp.add_argument(
        "--tree",
        default=os.path.join("out", "demo", "tree"),
        metavar="DIR",
        help="published tree root or s3://BUCKET/PREFIX (default: the demo's, %(default)s)",
    )
    rp.add_argument("--out", required=True, metavar="DIR", help="directory for scores-YYYY.svg and bands.md")
    rp.set_defaults(func=cmd_report)

    x = sub.add_parser(
        "execution-name",
        help="the Step Functions execution name of a manual run request "
        "(the same request on the same day gets the same name, so a duplicate is refused)",
    )
    x.add_argument("input", metavar="FILE", help="the execution input, e.g. events/manual_rerun.json")
    x.add_argument("--date", metavar="YYYY-MM-DD", help="the day of the request (default: today, UTC)")
    x.set_defaults(func=cmd_execution_name)

    c = sub.add_parser("contract", help="print the display contract as a Markdown table")
    c.set_defaults(func=cmd_contract)

    d = sub.add_parser("demo", help="refresh from a loopback CMS stand-in: two years, then a correction (no network)")
    d.add_argument(
        "--out",
        default=os.path.join(tempfile.gettempdir(), "mips-profiles-demo"),
        metavar="DIR",
        help="where the demo's tree goes (DIR/tree, DIR/tree.private; default: %(default)s)",
    )
    d.set_defaults(func=cmd_demo)
    return parser


def _terminated(signum: int, frame: object) -> None:
    raise Terminated


INTERRUPTED = (
    "interrupted ({}): what was written stays consistent (the manifest is written last); run the same command "
    "again to finish, a re-run converges to the bytes of an uninterrupted one"
)


def main(argv: Sequence[str] | None = None) -> int:
    """The command. Ctrl-C (SIGINT) and ``kill`` (SIGTERM) end it with one line and 130 or 143, from its first
    statement on (``__main__.run`` covers the loading of the modules before it)."""
    previous = (
        {
            signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
            signal.SIGTERM: signal.signal(signal.SIGTERM, _terminated),
        }
        if _main_thread()
        else {}
    )
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "force", False) and getattr(args, "performance_year", None) is None:
            parser.error("--force needs --performance-year: a forced re-run is for one named year")
        return int(args.func(args))
    except MipsProfilesError as exc:
        print(f"error: {printable(exc, 2000)}", file=sys.stderr)  # a message may quote CMS's or a client's text
        return 1
    except OSError as exc:  # the file system (or a socket) refused: one line naming the path, never a traceback
        where = f": {printable(str(exc.filename), 300)}" if exc.filename else ""
        print(f"error: {printable(exc.strerror or exc, 300)}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"error: {INTERRUPTED.format('SIGINT')}", file=sys.stderr)
        return 130
    except Terminated:
        print(f"error: {INTERRUPTED.format('SIGTERM')}", file=sys.stderr)
        return 143
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
