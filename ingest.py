"""Build or update the search index from corpus/.

    python ingest.py            # incremental: re-embeds only changed chunks (~1 s when nothing changed)
    python ingest.py --rebuild  # embed everything again (~10-20 s on 2 cores)

Prints one summary line. A bad corpus file stops the run and the previous index keeps serving.
"""

import argparse
import os
import sys

from bot.embeddings import embeddings_name, make_embeddings
from bot.errors import BotError
from bot.indexing import ingest
from bot.settings import Settings

if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="ignore the existing index and embed everything")
    args = parser.parse_args()
    try:
        settings = Settings.from_env()
        emb = make_embeddings(settings.embeddings)
        report = ingest(settings, emb, embeddings_name(emb), rebuild=args.rebuild, progress=sys.stderr.isatty())
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(report.line())
