"""The upload page in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright): upload a photo, see the annotated result with the face box; a bad file shows
the service's error."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from emoscope.inference.annotate import track_colour

CHROMIUM = Path("/usr/bin/chromium")
# No network, no first-run or background chatter: the page only talks to the loopback server.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium at /usr/bin"),
]

PIXEL_AT = """([x, y]) => {
  const img = document.getElementById('annotated');
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0);
  return Array.from(context.getImageData(x, y, 1, 1).data.slice(0, 3));
}"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One Chromium for the module, with an empty profile of its own."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("profile")), executable_path=str(CHROMIUM),
            headless=True, args=CHROMIUM_ARGS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    yield page
    page.close()


def test_upload_an_image_and_see_the_box(page, live_url, tmp_path, astronaut_rgb,
                                         one_torch_thread):
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut_rgb).save(photo, quality=90)
    page.goto(live_url)
    page.wait_for_function("document.getElementById('model').textContent.includes('tiny')")
    page.set_input_files("#file", str(photo))
    page.click("#analyse")
    page.wait_for_function("""() => {
      const img = document.getElementById('annotated');
      return !document.getElementById('annotated-figure').hidden && img.complete &&
             img.naturalWidth > 0;
    }""", timeout=60_000)
    assert page.inner_text("#summary").startswith("astronaut.jpg: 1 frame(s), 1 face(s)")
    rows = page.locator("tr.face-row")
    assert rows.count() == 1
    box = {name: float(rows.first.locator(f"td[data-column={name}]").inner_text())
           for name in ("x1", "y1", "x2", "y2")}
    assert page.evaluate("document.getElementById('annotated').naturalWidth") == 512
    x_mid, bottom = int((box["x1"] + box["x2"]) / 2), int(round(box["y2"]))
    assert tuple(page.evaluate(PIXEL_AT, [x_mid, bottom])) == track_colour(0)
    assert tuple(page.evaluate(PIXEL_AT, [x_mid, bottom + 8])) != track_colour(0)
    assert page.is_hidden("#error")


def test_upload_a_video_and_see_the_timeline(page, live_url, face_video, one_torch_thread):
    page.goto(live_url)
    page.fill("#every", "2")
    page.set_input_files("#file", str(face_video))
    page.click("#analyse")
    page.wait_for_function("""() => {
      const img = document.getElementById('timeline');
      return !document.getElementById('timeline-figure').hidden && img.complete &&
             img.naturalWidth > 0;
    }""", timeout=60_000)
    assert page.inner_text("#summary").startswith("face.mp4: 12 frame(s)")
    assert page.locator("tr.face-row").count() == 12
    assert page.is_visible("#annotated-video") and page.is_hidden("#annotated-figure")
    assert page.get_attribute("#annotated-video", "src").endswith("/annotated.mp4")


def test_upload_audio_and_see_the_voice_windows(page, live_url, tmp_path, one_torch_thread):
    import soundfile as sf

    from speech_fixtures import emotion_tone

    speech = tmp_path / "speech.wav"
    sf.write(str(speech), emotion_tone(5, seconds=2.5), 16000)
    page.goto(live_url)
    page.wait_for_function("document.getElementById('model').textContent.includes('tiny-speech')")
    page.set_input_files("#file", str(speech))
    page.click("#analyse")
    page.wait_for_selector("#voice:not([hidden])", timeout=60_000)
    assert page.inner_text("#summary").startswith(
        "speech.wav: 0 frame(s), 0 face(s), model tiny, 4 voice window(s), voice model "
        "tiny-speech")
    windows = page.locator("tr.voice-row")
    assert windows.count() == 4  # 2.5 s in 1 s windows every 0.5 s
    assert [windows.nth(i).locator("td[data-column=start_s]").inner_text()
            for i in range(4)] == ["0.00", "0.50", "1.00", "1.50"]
    assert windows.first.locator("td[data-column=voiced]").inner_text() == "true"
    assert page.is_hidden("#rows") and page.locator("tr.face-row").count() == 0


def test_a_bad_file_shows_the_error(page, live_url, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a face")
    page.goto(live_url)
    page.set_input_files("#file", str(notes))
    page.click("#analyse")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert page.inner_text("#error") == ("error 415: notes.txt: content type 'text/plain' is "
                                         "not an image, video or audio file type")
    assert page.is_hidden("#result")
