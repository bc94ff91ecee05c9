"""sidrec_lib: semantic-ID recommendation with causal language models.

One module per step of the course: ``sources`` and ``builtin_store`` (data), ``prepare``
(filtering and splits), ``embeddings``, ``semantic_ids`` and ``rqvae``, plus ``presets``, ``artifacts``
(the files each step writes) and ``plots``.
"""

__version__ = "0.1.0"
