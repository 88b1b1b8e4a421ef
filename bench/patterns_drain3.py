"""drain3 (PyPI, default settings) over the Loghub 2k samples, with masking instructions
that mirror skein-patterns' token classifiers (patterns/src/mask.rs), in the same order.

Usage: bench/patterns_drain3.py DATA_DIR OUT.json
Writes {"<System>": [cluster id of each line, in order], ...}: the id drain3 gives a line
when it arrives (drain3 never moves a line to another cluster, so this is its grouping).
"""
import csv
import json
import os
import sys

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

# Order as in mask.rs: quoted values, key=value values (untyped), URLs, paths, then a
# token's core by kind (IP, number, UUID, hex, time, dotted name, month or weekday name),
# then any other token with a digit in it, except a name with one or two digits (SOCKS5).
END = r"""(?=$|[\s,;:.)\]}>!?])"""
START = r"""(?:(?<=\s)|^|(?<=[(\[{<]))"""
MASKS = [
    (r"""(?:(?<=\s)|^|(?<==))("[^"]*"|'[^']*')""", "QUOTED"),
    (r"""(?<=[\w.\-]=)[^\s,;)\]}"']+""", "*"),
    (r"""\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s,;)\]}"']+""", "URL"),
    (START + r"""(?:/|[A-Za-z]:\\)[^\s,;)\]}"']+""", "PATH"),
    (r"""\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b""", "IP"),
    (r"""\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b""", "UUID"),
    (r"""\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b""", "HEX"),
    (r"""\b\d+(?:[:\-/]\d+)+(?:[.,]\d+)?\b""", "TIME"),
    (START + r"""[+-]?\d+(?:\.\d+)?(?:[a-zA-Z%]{1,3})?""" + END, "NUM"),
    (START + r"""(?=[\w.\-]*[A-Za-z])[\w\-]+(?:\.[\w\-]+){2,}""" + END, "NAME"),
    (r"""\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sept?|Oct|Nov|Dec|Mon|Tues?|Wed|Thu|Fri|Sat|Sun|"""
     r"""January|February|March|April|June|July|August|September|October|November|December|"""
     r"""Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b""", "TIME"),
    (START + r"""(?![A-Za-z]{2,}\d{1,2}""" + END + r""")[^\s()\[\]{}<>,;]*\d[^\s()\[\]{}<>,;]*""", "ID"),
]


def main():
    data_dir, out_path = sys.argv[1], sys.argv[2]
    result = {}
    for name in sorted(os.listdir(data_dir)):
        if not name.endswith("_2k.log_structured.csv"):
            continue
        system = name[: -len("_2k.log_structured.csv")]
        config = TemplateMinerConfig()  # defaults: sim_th 0.4, depth 4, max_children 100
        config.masking_instructions = [MaskingInstruction(p, m) for p, m in MASKS]
        miner = TemplateMiner(config=config)
        ids = []
        with open(os.path.join(data_dir, name), newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                ids.append(miner.add_log_message(row["Content"])["cluster_id"])
        result[system] = ids
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
