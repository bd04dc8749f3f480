"""The baseline: a bare Flask app answering a small JSON, served like Fusion (same gunicorn)."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/ping")
def ping():
    return jsonify(status="ok", service="bare")
