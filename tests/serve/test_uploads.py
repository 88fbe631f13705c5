"""Refused requests: wrong types, bad signatures, truncated/empty/oversized media, server
paths outside the allowed folder, time limits; the service keeps serving after each."""

from __future__ import annotations

import os

import pytest

from emoscope.serve.uploads import FileSink, UploadError, safe_name, sniff


def upload(client, name, data, content_type, query=""):
    return client.post(f"/analyze{query}", files={"file": (name, data, content_type)})


@pytest.mark.parametrize("head, expected", [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00", ("image", ".jpg")),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ("image", ".png")),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", ("image", ".webp")),
    (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", ("video", ".mp4")),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81", ("video", ".mkv")),
    (b"RIFF\x10\x00\x00\x00AVI LIST", ("video", ".avi")),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", ("image", ".heic")),  # phone photo
    (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", ("image", ".avif")),
    (b"\x00\x00\x00\x18ftypmsf1\x00\x00\x00\x00", None),  # HEIF image sequence
    (b"<html><body>hi</body></html>", None),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", None),
])
def test_sniff_magic_bytes(head, expected):
    assert sniff(head) == expected


def test_safe_name_never_keeps_a_path():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\me\\face.jpg") == "face.jpg"
    assert safe_name("..") == "upload" and safe_name(None) == "upload"
    assert safe_name("a\x00b\nc.jpg") == "abc.jpg"


def test_size_limit_is_enforced_while_streaming(tmp_path):
    sink = FileSink(tmp_path, "big.jpg", "image", limit=100)
    sink.write(b"\xff\xd8\xff" + b"\x00" * 60)
    with pytest.raises(UploadError) as err:
        sink.write(b"\x00" * 60)  # refused at the chunk that crosses the limit
    sink.close()
    assert err.value.status == 413
    assert err.value.message == "big.jpg: upload larger than the 9.53674e-05 MB limit"
    assert (tmp_path / "upload.jpg").stat().st_size == 63


def test_bad_uploads_get_4xx_and_the_service_keeps_serving(make_client, photo_jpeg,
                                                           face_video, one_torch_thread):
    client = make_client(max_upload_mb=0.5)
    video = face_video.read_bytes()
    oversized = photo_jpeg[:3] + os.urandom(530_000)  # within the multipart allowance
    cases = [
        (("notes.txt", b"just some text, not a face", "text/plain"), 415,
         "notes.txt: content type 'text/plain' is not an image, video or audio file type"),
        (("fake.png", b"<html>not a png at all</html>", "image/png"), 415,
         "fake.png: not an image, video or audio file (unrecognised file signature)"),
        (("clip.jpg", video, "image/jpeg"), 415,
         "clip.jpg: declared as image but the bytes are a video"),
        (("half.jpg", photo_jpeg[: len(photo_jpeg) // 2], "image/jpeg"), 422,
         "half.jpg: truncated image"),
        (("half.mp4", video[: len(video) // 2], "video/mp4"), 422, "half.mp4: "),
        (("empty.jpg", b"", "image/jpeg"), 422, "empty.jpg: empty file"),
        (("huge.jpg", oversized, "image/jpeg"), 413,
         "huge.jpg: upload larger than the 0.5 MB limit"),
        (("../../etc/x.jpg", b"\xff\xd8\xff" + b"x" * 40, "image/jpeg"), 422, "x.jpg: "),
    ]
    for (name, data, content_type), status, message in cases:
        response = upload(client, name, data, content_type)
        assert response.status_code == status, (name, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail.startswith(message), detail
        assert "\n" not in detail
        good = upload(client, "ok.jpg", photo_jpeg, "image/jpeg")
        assert good.status_code == 200 and good.json()["faces"] == 1, name


def test_requests_without_one_file_field(client, photo_jpeg):
    field = client.post("/analyze", files={"note": (None, "hi")})
    assert (field.status_code, field.json()["detail"]) == (400, "unexpected form field "
                                                           "'note': send one file field named "
                                                           "'file'; options go in the query string")
    no_parts = client.post("/analyze", content=b"--b--\r\n",
                           headers={"content-type": "multipart/form-data; boundary=b"})
    assert no_parts.json()["detail"] == "no file in the request: send one file field named 'file'"
    garbage = client.post("/analyze", content=b"no boundary here at all",
                          headers={"content-type": "multipart/form-data; boundary=b"})
    assert garbage.status_code == 400 and garbage.json()["detail"].startswith("malformed")
    two = client.post("/analyze", files=[("file", ("a.jpg", photo_jpeg, "image/jpeg")),
                                         ("file", ("b.jpg", photo_jpeg, "image/jpeg"))])
    assert two.json()["detail"] == "more than one file in one request; send one per request"
    raw = client.post("/analyze", content=photo_jpeg, headers={"content-type": "image/jpeg"})
    assert raw.status_code == 415 and "multipart/form-data" in raw.json()["detail"]
    empty = client.post("/analyze")
    assert empty.status_code == 415


def test_declared_length_beyond_the_limit_is_refused_before_reading(make_client):
    client = make_client(max_upload_mb=0.5)
    response = client.post("/analyze", content=b"x" * 700_000,
                           headers={"content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 413
    assert response.json()["detail"] == "upload of 0.7 MB is larger than the 0.5 MB limit"


@pytest.fixture
def allowed(tmp_path, astronaut_rgb):
    from PIL import Image

    root = tmp_path / "allowed"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(astronaut_rgb).save(root / "sub" / "face.png")
    outside = tmp_path / "secret.png"
    Image.fromarray(astronaut_rgb).save(outside)
    (root / "link.png").symlink_to(outside)
    (root / "notes.txt").write_text("hello")
    return root


def test_server_paths_stay_inside_the_allowed_folder(make_client, allowed, one_torch_thread):
    client = make_client(allow_path=str(allowed))
    good = client.post("/analyze", params={"path": "sub/face.png"})
    assert good.status_code == 200 and good.json()["rows"][0]["source"] == "sub/face.png"
    outside = str(allowed.parent / "secret.png")
    for path, status, message in [
        ("../secret.png", 403, "../secret.png: outside the allowed folder"),
        ("sub/../../secret.png", 403, "sub/../../secret.png: outside the allowed folder"),
        (outside, 403, f"{outside}: outside the allowed folder"),
        ("link.png", 403, "link.png: outside the allowed folder"),  # symlink out
        ("../no-such-file.png", 403, "../no-such-file.png: outside the allowed folder"),
        ("sub/missing.png", 404, "sub/missing.png: file not found"),
        ("sub", 400, "sub: not a file"),
        ("notes.txt", 415, "notes.txt: not an image, video or audio file"),
    ]:
        response = client.post("/analyze", params={"path": path})
        assert (response.status_code, response.json()["detail"]) == (status, message)
    disabled = make_client().post("/analyze", params={"path": "sub/face.png"})
    assert disabled.status_code == 403
    assert disabled.json()["detail"].startswith("server paths are disabled")


def test_time_limit_and_busy_service(make_client, engine, photo_jpeg, allowed,
                                     one_torch_thread):
    import time

    slow = make_client(timeout_s=1e-6, allow_path=str(allowed))
    response = upload(slow, "a.jpg", photo_jpeg, "image/jpeg")
    assert response.status_code == 408  # the deadline passed while the upload came in
    assert response.json()["detail"] == "the upload did not arrive within 1e-06 s"
    response = slow.post("/analyze", params={"path": "sub/face.png"})
    assert response.status_code == 504  # a server file: the deadline passes in analysis
    assert response.json()["detail"] == "analysis did not finish within 1e-06 s"
    busy = make_client(timeout_s=0.2)
    with engine.lend(time.monotonic() + 1):  # the only analyser is taken
        response = upload(busy, "a.jpg", photo_jpeg, "image/jpeg")
    assert response.status_code == 503 and "busy" in response.json()["detail"]
    assert upload(busy, "a.jpg", photo_jpeg, "image/jpeg").status_code == 200
