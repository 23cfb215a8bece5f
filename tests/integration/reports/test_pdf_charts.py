"""Charts in PDF reports are pictures drawn by resvg, which shapes Thai and Arabic as a browser does: WeasyPrint draws
SVG words one character at a time (Kozea/WeasyPrint#2909), Thai marks on dotted circles and Arabic unjoined."""

import base64
import io
import re

from PIL import Image

from app.reports.pdf import CHART_ZOOM, charts_as_pictures


def _ink_width(text: str) -> int:
    """How wide `text` comes out of a report's chart, in pixels of ink."""
    svg = (
        '<svg class="chart" width="1000" height="40" role="img"><title>t</title>'
        f'<text x="10" y="30" font-size="20" font-family="system-ui, sans-serif">{text}</text></svg>'
    )
    uri = re.search(r'src="data:image/png;base64,([^"]+)"', charts_as_pictures(svg))
    assert uri is not None
    picture = Image.open(io.BytesIO(base64.b64decode(uri[1]))).convert("RGBA")
    paper = Image.new("RGBA", picture.size, "white")
    paper.alpha_composite(picture)  # drawn on a transparent ground, printed on white
    box = paper.convert("L").point(lambda v: 255 if v < 128 else 0).getbbox()
    assert box is not None
    return box[2] - box[0]


def test_thai_marks_sit_on_their_letter() -> None:
    # ช with the vowel ื and the tone mark ่ stacked above it is one letter wide; drawn one by one, three.
    assert _ink_width("ชื่") < 1.3 * _ink_width("ช")


def test_arabic_letters_join() -> None:
    # Three joined beh are narrower than three alone (isolated forms with their tails).
    assert _ink_width("ببب") < 0.8 * 3 * _ink_width("ب")


def test_an_arabic_label_with_brackets_is_drawn_in_arabic() -> None:
    # The trend's legend in Arabic. Drawn from Noto Sans, whose brackets kept the whole label in it, every Arabic
    # letter was a box; the brackets add only their own width to the label in Arabic letters.
    label = "النصف الأوسط من النظراء (من الربيع الأدنى إلى الربيع الأعلى)"
    assert _ink_width(label) < _ink_width(label.replace("(", "").replace(")", "")) + 6 * _ink_width("(")


def test_every_chart_becomes_a_picture_of_the_same_size() -> None:
    inline = (
        '<figure><svg class="chart trend-chart" id="c" viewBox="0 0 560 300" width="560" height="300" role="img">'
        '<title id="c-title">Overall over the periods</title><desc id="c-desc">Line chart</desc>'
        '<line x1="0" y1="0" x2="560" y2="300" stroke="#000"/></svg></figure>'
    )
    radar = '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50"><rect width="100" height="50"/></svg>'
    image = f'<img src="data:image/svg+xml;base64,{base64.b64encode(radar.encode()).decode()}" width="100">'

    html = charts_as_pictures(inline + image)

    assert "<svg" not in html and "image/svg+xml" not in html
    assert '<img class="chart" src="data:image/png;base64,' in html
    assert 'width="560" height="300" alt="Overall over the periods Line chart">' in html
    sizes = [
        Image.open(io.BytesIO(base64.b64decode(data))).size
        for data in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    ]
    assert sizes == [(560 * CHART_ZOOM, 300 * CHART_ZOOM), (100 * CHART_ZOOM, 50 * CHART_ZOOM)]
