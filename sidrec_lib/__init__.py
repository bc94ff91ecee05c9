"""sidrec_lib: semantic-ID recommendation with causal language models.

The modules, in the order of the course:

- data: ``sources`` (the Amazon Reviews 2023 layout, downloads, dataset choice), ``builtin`` (the
  generated game store, a subpackage), ``prepare`` (filters, k-core, sequences, the leave-last-out
  split);
- item IDs: ``embeddings`` (item text and vectors), ``cooccurrence`` (behaviour vectors),
  ``semantic_ids`` (RQ-k-means, the dedup level, diagnostics) with ``kmeans`` (its torch kernels),
  ``rqvae`` (the RQ-VAE comparison), ``tokens`` (SID spelling, the item ↔ SID table, parsing model
  output);
- the language model: ``models`` (scratch or pretrained bases, SID vocabulary), ``phrasings`` (the
  wordings of every turn, text pieces), ``attributes`` (what a request can ask for), ``constraints``
  (what a request asks of items), ``compound`` (requests a single filter cannot serve), ``corpus``
  (the stage-1 corpus), ``tasks`` (the stage-2 task mix), ``train`` (both stages with TRL, the CLI);
- recommending: ``decoding`` (the SID trie and batched beam search), ``evaluate``
  (``HybridRecommender``, conversations), ``metrics``, ``baselines`` (most-popular, SASRec),
  ``peers`` (Cornac's SASRec and TIGER), ``steering`` (the steerability benchmark and its classic
  competitors), ``request_parser`` (their request parser), ``faithfulness`` (checking explanations);
- around them: ``presets`` (every step's settings), ``artifacts`` (run folders, manifests, input
  checks), ``files`` (atomic writes, versioned tensor files), ``devices``, ``plots``, ``summary``
  (the run's report), ``cli`` (command-line options the scripts share).
"""

__version__ = "0.1.0"
