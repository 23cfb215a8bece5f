"""Build the small web fonts the staff pages carry for scripts a projector or laptop may lack (Thai, Arabic).

Noto Sans Thai and Noto Sans Arabic (SIL Open Font License 1.1, from Debian's fonts-noto-core) cut down to
their script's characters and written as woff2 into static/fonts/. The output is committed, so neither the app
nor the tests need fonttools; run `make fonts` after changing the ranges or the source fonts.
"""

import hashlib
import sys
from pathlib import Path

from fontTools import subset

SOURCE = Path("/usr/share/fonts/truetype/noto")
TARGET = Path(__file__).resolve().parent.parent / "static" / "fonts"
# Joiners and direction marks (U+200B-200F) and the dotted circle that shows a lone combining mark (U+25CC).
SHARED = "U+200B-200F,U+25CC"
FONTS = {
    "noto-sans-thai": ("NotoSansThai", "U+0E00-0E7F"),
    # The Arabic block: letters, marks, Arabic-Indic digits and the Arabic decimal and thousands separators.
    "noto-sans-arabic": ("NotoSansArabic", "U+0600-06FF"),
}


def main() -> int:
    for name, (family, unicodes) in FONTS.items():
        for weight in ("Regular", "Bold"):
            source = SOURCE / f"{family}-{weight}.ttf"
            if not source.exists():
                print(f"{source} is missing: apt-get install fonts-noto-core", file=sys.stderr)
                return 1
            target = TARGET / f"{name}-{weight.lower()}.woff2"
            subset.main(
                [
                    str(source),
                    f"--unicodes={unicodes},{SHARED}",
                    "--layout-features=*",  # shaping (Arabic joining forms, Thai mark placement) needs them all
                    "--flavor=woff2",
                    "--no-hinting",
                    "--desubroutinize",
                    f"--output-file={target}",
                ]
            )
            print(f"{target.name}: {target.stat().st_size // 1024} KB")
        _stylesheet(name, family, unicodes)
    return 0


def _stylesheet(name: str, family: str, unicodes: str) -> None:
    """static/fonts/<script>.css: the two weights under our own family name (a modified font may not keep the
    original's), the phone's or laptop's own copy first, each file with its content hash (cached for a year)."""
    script = family.removeprefix("NotoSans")
    faces = []
    for weight, css_weight in (("regular", 400), ("bold", 700)):
        woff2 = TARGET / f"{name}-{weight}.woff2"
        version = hashlib.sha256(woff2.read_bytes()).hexdigest()[:10]
        local = f"Noto Sans {script}" + (" Bold" if weight == "bold" else "")
        faces.append(
            f'@font-face{{font-family:"ClusterScore {script}";font-weight:{css_weight};font-display:swap;'
            f'src:local("{local}"),url({woff2.name}?v={version}) format("woff2");unicode-range:{unicodes},{SHARED}}}'
        )
    header = f"/* Built by tools/subset_fonts.py from {family} (SIL OFL 1.1, see OFL.txt). Do not edit. */"
    (TARGET / f"{script.lower()}.css").write_text("\n".join([header, *faces]) + "\n")


if __name__ == "__main__":
    sys.exit(main())
