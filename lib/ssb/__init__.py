"""ssb: reference companion to *Single-Nodal Spontaneous Symmetry Breaking in NLP Models*
(arXiv 2601.20582).

One module per idea:

- ``profiles``   run configurations (smoke / quick / paper) as plain values with overrides
- ``atomic``     write-to-temp-then-rename helpers used for every file the project writes
- ``data``       data directory, pre-training corpora, FewRel files (local first, download second)
- ``tokenizer``  bert-base-uncased when it can be had, else a WordPiece vocabulary trained locally
- ``model``      BERT-6 builder, symmetric initialisations, head gap g
- ``mlm``        masked-language-model masking (15 %, 80/10/10), seeded
- ``pretrain``   the MLM training loop (deterministic by default, resumable, DDP-ready)
- ``nodes``      node vectors of a block through forward hooks, cached on disk
- ``heads``      classifier heads (1 or 2 FC layers) trained on node vectors
- ``metrics``    confusion-matrix measurements: accuracy, APT, diagonal confidence, P and R
- ``aperture``   the limited-aperture engine: many node sets evaluated in one batched call
- ``fewrel``     FewRel relation-classification task (split, entity markers, encoding)
- ``finetune``   full fine-tuning reference
- ``crossover``  node-count crossover and cooperation
- ``hull``       convex-hull bound of what a linear head can output
- ``results``    figures/<profile>/ and summary.json
- ``report``     reports/<name>/index.html, notebook pages, and the claims table rendered (``show_claims``)
"""

__version__ = "0.1.0"

from . import profiles, session  # noqa: E402,F401  (light: torch is imported only when a session starts)
