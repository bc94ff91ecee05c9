"""The ``builtin`` data source: a generated video-game store, written in the Amazon Reviews 2023 layout.

The store has platform families whose generations come and go over 2008-2024 (PlayStation 3 -> 4 -> 5,
Xbox 360 -> One -> Series X|S, Wii -> Wii U -> Switch, handhelds, PC), genres, franchises whose sequels
come out years apart, standalone games and accessories. Shoppers own one or two platform families and move
to each new generation some time after it comes out, have concentrated genre tastes, follow the
franchises they like (buying each sequel once it is released) and buy in time order over an active period
of their own, with a share of random purchases.

Each item's ``details`` carries the ground truth (platform, genre, franchise, price tier, player mode,
release date...) so that steering can be scored exactly. Every word comes from the JSON files in
``data/builtin/``; the code holds only the model of the store. The same config
(:class:`sidrec_lib.presets.BuiltinConfig`) always gives the same records and byte-identical files: the
catalog depends only on ``seed`` and the catalog knobs, not on ``n_users``.

The modules, in the order the store is made:

- ``vocab``: the word lists of ``data/builtin/``, loaded and checked, and the templates they fill;
- ``timeline``: dates as days; ``draws``: random picks;
- ``platforms``: platform families and their generations;
- ``names``: studio, game and franchise-entry names;
- ``releases``: studios, franchises, standalone games, price tiers;
- ``pages``: one item page per release and platform, and the accessories;
- ``catalog``: all of the above, from the catalog's random stream;
- ``shoppers``: the users and their purchases in time order;
- ``reviews``: star ratings, reviewer ids and review texts;
- ``store``: the records and files in the Amazon Reviews 2023 layout.
"""

from sidrec_lib.builtin.pages import MAIN_CATEGORY
from sidrec_lib.builtin.store import (
    CATEGORY,
    META_FILENAME,
    REVIEWS_FILENAME,
    generate_store,
    store_folder_name,
    write_store,
)
from sidrec_lib.builtin.vocab import DEFAULT_VOCAB_DIR, PLAYER_MODES, PRICE_TIERS, load_vocab

__all__ = [
    "CATEGORY",
    "DEFAULT_VOCAB_DIR",
    "MAIN_CATEGORY",
    "META_FILENAME",
    "PLAYER_MODES",
    "PRICE_TIERS",
    "REVIEWS_FILENAME",
    "generate_store",
    "load_vocab",
    "store_folder_name",
    "write_store",
]
