"""The service through httpx (TestClient): tables, annotations, plots, schema, models."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from emoscope.inference.annotate import track_colour
from emoscope.inference.demo import ASTRONAUT_FACE

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def upload(client, name, data, content_type, query=""):
    return client.post(f"/analyze{query}", files={"file": (name, data, content_type)})


def test_health_and_models(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model"] == "tiny"
    assert health["detector"] == "mediapipe" and health["workers"] == 1
    assert health["voice_model"] == "tiny-speech"
    models = {m["name"]: m for m in client.get("/models").json()}
    assert models["tiny"]["serving"] is True and models["tiny"]["labels"] == LABELS
    assert models["fer2013-lite0"]["serving"] is False
    assert models["fer2013-lite0"]["input_size"] == [3, 64, 64]


def test_openapi_schema_describes_the_routes(client):
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {"/analyze", "/health", "/models", "/results/{result_id}/{name}"}
    analyze = schema["paths"]["/analyze"]["post"]
    body = analyze["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["properties"]["file"] == {**body["properties"]["file"], "type": "string",
                                          "format": "binary"}
    assert {p["name"] for p in analyze["parameters"]} == {
        "path", "every", "fps", "smooth", "smooth_method", "annotate", "plots"}
    assert {"200", "400", "403", "404", "408", "413", "415", "422", "503", "504"} <= \
        set(analyze["responses"])
    result = schema["components"]["schemas"]["AnalyzeResponse"]
    assert {"columns", "rows", "files", "faces", "frames", "voice_model", "voice_columns",
            "voice_rows"} <= set(result["properties"])


def test_image_table_equals_analyze_json(client, photo_jpeg, tmp_path, tiny_model_path):
    from emoscope.inference.analyze import AnalyzeOptions, run_analysis
    from emoscope.inference.writers import read_table

    response = upload(client, "astronaut.jpg", photo_jpeg, "image/jpeg")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "image" and body["frames"] == 1 and body["faces"] == 1
    assert body["source"] == "astronaut.jpg" and body["files"] == {}
    row = body["rows"][0]
    for got, want in zip((row["x1"], row["y1"], row["x2"], row["y2"]), ASTRONAUT_FACE,
                         strict=True):
        assert abs(got - want) < 25
    # The same file through ``emoscope analyze --format json``: the same table.
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(photo_jpeg)
    run_analysis([photo], AnalyzeOptions(out=str(tmp_path / "out"), format="json",
                                         model=str(tiny_model_path), plots=False))
    table = read_table(tmp_path / "out" / "astronaut.json")
    assert body["columns"] == list(table.columns)
    expected = table.drop(columns="source").to_dict(orient="records")
    assert [{k: v for k, v in r.items() if k != "source"} for r in body["rows"]] == expected


def test_annotated_image_shows_the_box(client, photo_jpeg):
    body = upload(client, "a.jpg", photo_jpeg, "image/jpeg", "?annotate=true").json()
    url = body["files"]["annotated"]
    assert url.endswith("/annotated.png")
    response = client.get(url)
    assert response.headers["content-type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    row = body["rows"][0]
    x_mid, bottom = int((row["x1"] + row["x2"]) / 2), int(round(row["y2"]))
    assert tuple(image[bottom, x_mid]) == track_colour(0)
    assert tuple(image[bottom + 8, x_mid]) != track_colour(0)  # the photo itself below


def test_video_with_smoothing_annotation_and_plots(client, face_video):
    query = "?annotate=true&plots=true&smooth=3&every=2"
    response = upload(client, "clip.mp4", face_video.read_bytes(), "video/mp4", query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "video" and body["frames"] == 12
    assert [r["frame"] for r in body["rows"]] == list(range(0, 24, 2))
    assert {"smooth_happy", "top_label_smooth"} <= set(body["columns"])
    assert set(body["files"]) == {"annotated", "timeline", "distribution", "heatmap"}
    video = client.get(body["files"]["annotated"])
    assert video.headers["content-type"] == "video/mp4" and video.content[4:8] == b"ftyp"
    timeline = client.get(body["files"]["timeline"])
    assert timeline.content.startswith(b"\x89PNG")


def test_heic_phone_photo_upload(client, astronaut_rgb):
    buffer = io.BytesIO()
    Image.fromarray(astronaut_rgb).save(buffer, "HEIF", quality=90)
    response = upload(client, "IMG_0001.HEIC", buffer.getvalue(), "image/heic")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "image" and body["faces"] == 1 and body["source"] == "IMG_0001.HEIC"
    row = body["rows"][0]
    assert abs(row["x1"] - ASTRONAUT_FACE[0]) < 25 and abs(row["y2"] - ASTRONAUT_FACE[3]) < 25


def test_animated_gif_upload_is_analysed_as_a_video(client, astronaut_rgb):
    from emoscope.inference.demo import camera_path

    frames = [Image.fromarray(f) for f in camera_path(astronaut_rgb, 320, 180, 12)[:4]]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    response = upload(client, "pan.gif", buffer.getvalue(), "image/gif")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "video" and body["frames"] == 4
    assert [r["frame"] for r in body["rows"]] == [0, 1, 2, 3]


def test_results_are_bounded_and_ids_checked(make_client, photo_jpeg, one_torch_thread):
    client = make_client(keep_results=1)
    first = upload(client, "a.jpg", photo_jpeg, "image/jpeg", "?annotate=true").json()
    assert client.get(first["files"]["annotated"]).status_code == 200
    second = upload(client, "b.jpg", photo_jpeg, "image/jpeg", "?annotate=true").json()
    assert client.get(first["files"]["annotated"]).status_code == 404
    assert client.get(second["files"]["annotated"]).status_code == 200
    assert client.get("/results/..%2F..%2Fetc/passwd").status_code == 404
    assert client.get("/results/" + "0" * 32 + "/annotated.png").json()["detail"].startswith(
        "no result file 'annotated.png'")


@pytest.mark.parametrize("query, message", [
    ("?every=0", "invalid request: every: Input should be greater than or equal to 1"),
    ("?smooth_method=median", "invalid request: smooth_method: Input should be 'ema' or "
                              "'window'"),
])
def test_bad_options_are_one_line_422(client, photo_jpeg, query, message):
    response = upload(client, "a.jpg", photo_jpeg, "image/jpeg", query)
    assert response.status_code == 422 and response.json() == {"detail": message}


def test_responses_match_the_served_schema(client, photo_jpeg):
    """Each route's real answer validates against the schema /openapi.json declares for it."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")

    def check(body, route, method, status):
        declared = schema["paths"][route][method]["responses"][status]
        target = declared["content"]["application/json"]["schema"]
        jsonschema.validate(body, {**target, "components": schema["components"]})

    check(client.get("/health").json(), "/health", "get", "200")
    check(client.get("/models").json(), "/models", "get", "200")
    analysed = upload(client, "a.jpg", photo_jpeg, "image/jpeg", "?annotate=true").json()
    check(analysed, "/analyze", "post", "200")
    refused = upload(client, "a.txt", b"text", "text/plain").json()
    check(refused, "/analyze", "post", "415")
    with pytest.raises(jsonschema.ValidationError):  # the check itself can fail
        check({**analysed, "faces": "one"}, "/analyze", "post", "200")


@pytest.mark.slow
def test_onnx_runtime_serves_the_same_table(tiny_model_path, photo_jpeg, client,
                                            one_torch_thread):
    """``serve --runtime onnx``: ONNX Runtime behind the same routes, same table (to float
    rounding) as the PyTorch runtime."""
    pytest.importorskip("onnxruntime")
    from fastapi.testclient import TestClient

    from emoscope.serve.app import create_app
    from emoscope.serve.settings import ServeSettings

    torch_rows = upload(client, "a.jpg", photo_jpeg, "image/jpeg").json()["rows"]
    app = create_app(ServeSettings(model=str(tiny_model_path), runtime="onnx"))
    with TestClient(app) as onnx_client:
        onnx_rows = upload(onnx_client, "a.jpg", photo_jpeg, "image/jpeg").json()["rows"]
    assert len(onnx_rows) == len(torch_rows) == 1
    got, want = onnx_rows[0], torch_rows[0]
    assert got["top_label"] == want["top_label"] and got["x1"] == want["x1"]
    for label in LABELS:
        assert got[f"p_{label}"] == pytest.approx(want[f"p_{label}"], abs=1e-4)


def test_pose_setting_adds_head_pose_to_every_face(tiny_model_path, photo_jpeg,
                                                   one_torch_thread):
    from fastapi.testclient import TestClient

    from emoscope.serve.app import create_app
    from emoscope.serve.engine import AnalysisEngine
    from emoscope.serve.settings import ServeSettings

    settings = ServeSettings(model=str(tiny_model_path), voice_model="none", pose=True)
    engine = AnalysisEngine(settings)
    try:
        with TestClient(create_app(settings, engine=engine)) as client:
            body = upload(client, "astronaut.jpg", photo_jpeg, "image/jpeg").json()
    finally:
        engine.close()
    assert body["columns"][-3:] == ["yaw", "pitch", "roll"]
    row = body["rows"][0]
    assert abs(row["yaw"]) < 5 and abs(row["pitch"]) < 5 and abs(row["roll"]) < 6
