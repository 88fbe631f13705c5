"""A real uvicorn server on loopback: streaming limits over a socket, keeps serving, stops."""

from __future__ import annotations

import os

import httpx


def test_chunked_oversized_upload_is_cut_off_and_server_keeps_serving(live_url, photo_jpeg,
                                                                      one_torch_thread):
    boundary = "emoscope-test-boundary"

    def body():  # chunked: no Content-Length, so only the streaming count can stop it
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
        yield photo_jpeg[:3]
        for _ in range(40):  # 40 x 64 KB = 2.5 MB against a 1 MB limit
            yield os.urandom(64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    with httpx.Client(base_url=live_url, timeout=30) as client:
        response = client.post("/analyze", content=body(), headers={
            "content-type": f"multipart/form-data; boundary={boundary}"})
        assert response.status_code == 413
        assert response.json()["detail"] == "big.jpg: upload larger than the 1 MB limit"
        assert client.get("/health").json()["status"] == "ok"
        good = client.post("/analyze", files={"file": ("a.jpg", photo_jpeg, "image/jpeg")})
        assert good.status_code == 200 and good.json()["faces"] == 1


def test_page_and_static_files_are_served(live_url):
    with httpx.Client(base_url=live_url, timeout=30) as client:
        page = client.get("/")
        assert page.status_code == 200 and 'id="file"' in page.text
        script = client.get("/static/app.js")
        assert script.status_code == 200 and "/analyze" in script.text
        assert client.get("/static/../settings.py").status_code == 404
        assert client.get("/static/%2e%2e/settings.py").status_code == 404


def test_a_trickling_upload_times_out_and_frees_the_server(engine, tiny_model_path,
                                                          photo_jpeg, one_torch_thread):
    import time

    from emoscope.serve.app import create_app
    from emoscope.serve.server import BackgroundServer
    from emoscope.serve.settings import ServeSettings

    boundary = "b0undary"

    def slow_body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"slow.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
        for start in range(0, 4096, 1024):  # 4 KB over about 2 s
            yield photo_jpeg[start:start + 1024]
            time.sleep(0.5)

    app = create_app(ServeSettings(model=str(tiny_model_path), timeout_s=0.8), engine=engine)
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        response = client.post("/analyze", content=slow_body(), headers={
            "content-type": f"multipart/form-data; boundary={boundary}"})
        assert response.status_code == 408
        assert response.json()["detail"] == "the upload did not arrive within 0.8 s"
        good = client.post("/analyze", files={"file": ("a.jpg", photo_jpeg, "image/jpeg")})
        assert good.status_code == 200 and good.json()["faces"] == 1


def test_concurrent_requests_share_the_analyser_and_agree(live_url, photo_jpeg,
                                                          one_torch_thread):
    from concurrent.futures import ThreadPoolExecutor

    def send(i: int) -> dict:
        with httpx.Client(base_url=live_url, timeout=60) as client:
            query = "?annotate=true" if i % 2 else ""
            response = client.post(f"/analyze{query}",
                                   files={"file": (f"{i}.jpg", photo_jpeg, "image/jpeg")})
            assert response.status_code == 200, response.text
            return response.json()

    with ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(send, range(6)))
    tables = [[{k: v for k, v in row.items() if k != "source"} for row in body["rows"]]
              for body in bodies]
    assert all(table == tables[0] for table in tables) and len(tables[0]) == 1
    assert [body["rows"][0]["source"] for body in bodies] == [f"{i}.jpg" for i in range(6)]
    assert [bool(body["files"]) for body in bodies] == [i % 2 == 1 for i in range(6)]
