"""Pre-train one BERT-6 variant from the command line, on one process or several (DDP).

    python -m ssb.pretrain_cli --profile quick
    torchrun --nproc_per_node 4 -m ssb.pretrain_cli --profile paper
    python -m ssb.pretrain_cli --profile smoke --variant symmetric -p ssb_steps 50
    python -m ssb.pretrain_cli --profile quick --variant node_symmetric   # C3 variants: symmetric,
        # symmetric_eps, symmetric_dropout, node_symmetric; "random" is the main run

The checkpoint lands where the notebooks look for it (runs/<profile>/pretrain/<variant>/),
so ``run_all.sh`` afterwards reuses it.  Under torchrun, rank 0 prepares the corpus and
tokenizer first; the other ranks then read its cache.
"""
from __future__ import annotations

import argparse
import sys

import torch

from .backbones import VARIANTS, pretrained
from .corpus import prepare as prepare_corpus
from .pretrain import join_process_group
from .profiles import get_profile


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ssb.pretrain_cli", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--variant", default="main", choices=sorted(VARIANTS))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="override a profile field")
    args = ap.parse_args(argv)
    profile = get_profile(args.profile, **dict(args.p))
    world, rank = join_process_group()
    if world > 1:
        if rank == 0:
            prepare_corpus(profile, args.data_dir)
        torch.distributed.barrier()
    c = prepare_corpus(profile, args.data_dir, progress=world == 1)
    run = pretrained(profile, args.variant, args.data_dir, force=args.force, corpus_=c)
    if rank == 0:
        ev = run.backbone
        print(f"finished: {run.final_dir}  held-out masked-token accuracy {ev['mlm_accuracy']:.4f} "
              f"(baseline {ev['baseline_accuracy']:.4f}, {ev['n_positions']} positions; backbone gate "
              f"p = {ev['gate']['p']:.2g}, {'passed' if ev['gate']['passed'] else 'NOT passed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
