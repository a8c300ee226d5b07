"""``einformer env``: torch, CUDA, cuDNN, NCCL, GPUs, the system's CUDA toolkit and driver, the CPU;
``--check`` turns those facts into findings with fixes (``einformer.diagnose``)."""

from __future__ import annotations

import argparse
import dataclasses
import json


def register(sub) -> None:
    p = sub.add_parser("env", help="report torch, CUDA, driver, CPU and packages; --check diagnoses the install")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--check", action="store_true", help="findings with fixes; exit 1 if one would stop your next step")
    p.add_argument("--device", default="cpu", help="with --check: the device you mean to use (cpu or cuda[:i])")
    p.set_defaults(func=cmd_env)


def cmd_env(args: argparse.Namespace) -> int:
    from ..diagnose import collect_facts, diagnose, exit_code
    from ..env import collect_env, format_env, format_facts

    report, facts = collect_env(), collect_facts()
    findings = diagnose(facts, device=args.device) if args.check else []
    if args.json:
        extra = {"findings": [dataclasses.asdict(f) for f in findings]} if args.check else {}
        print(json.dumps({**report, "system": facts, **extra}, indent=2))
    else:
        print(format_env(report) + "\n" + format_facts(facts))
        if args.check:
            print("\nfindings:" if findings else "\nfindings: none")
            for finding in findings:
                print("  " + finding.to_text().replace("\n", "\n  "))
    return exit_code(findings)
