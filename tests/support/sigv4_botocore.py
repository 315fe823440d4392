#!/usr/bin/env python3
"""Signs one request with botocore's SigV4Auth, the independent reference for sigv4_test.

Usage: sigv4_botocore.py REQUEST.json

REQUEST.json: {"method", "url", "headers": [[name, value], ...], "body", "amz_date"
(YYYYMMDDTHHMMSSZ), "access_key_id", "secret_access_key", "session_token", "region", "service"}.
`headers` are the request's headers before signing (botocore adds X-Amz-Date,
X-Amz-Security-Token and Authorization itself). Prints one JSON object with the headers botocore
added plus its canonical request and string to sign. Exit status 3 when botocore is missing.
"""

import datetime
import json
import sys
import types


def main() -> int:
    try:
        import botocore.auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError as e:
        print(f"sigv4_botocore.py: botocore is not importable ({e}); "
              "install python3-botocore (scripts/install-deps.sh)", file=sys.stderr)
        return 3

    with open(sys.argv[1], encoding="utf-8") as f:
        req = json.load(f)

    # Freeze the clock botocore reads: get_current_datetime() in recent releases,
    # datetime.datetime.utcnow() in older ones (Debian 12 ships 1.29).
    fixed = datetime.datetime.strptime(req["amz_date"], "%Y%m%dT%H%M%SZ")

    class FrozenDateTime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

        @classmethod
        def now(cls, tz=None):
            return fixed if tz is None else fixed.replace(tzinfo=tz)

    if hasattr(botocore.auth, "get_current_datetime"):
        botocore.auth.get_current_datetime = lambda *args, **kwargs: fixed
    botocore.auth.datetime = types.SimpleNamespace(
        datetime=FrozenDateTime, timezone=datetime.timezone, timedelta=datetime.timedelta)

    request = AWSRequest(method=req["method"], url=req["url"], data=req["body"].encode("utf-8"))
    for name, value in req["headers"]:
        request.headers[name] = value  # HTTPHeaders appends: repeated names stay repeated.

    credentials = Credentials(req["access_key_id"], req["secret_access_key"],
                              req.get("session_token") or None)
    auth = botocore.auth.SigV4Auth(credentials, req["service"], req["region"])

    captured = {}
    original_string_to_sign = auth.string_to_sign

    def capture(request_, canonical_request):
        captured["canonical_request"] = canonical_request
        captured["string_to_sign"] = original_string_to_sign(request_, canonical_request)
        return captured["string_to_sign"]

    auth.string_to_sign = capture
    auth.add_auth(request)

    if request.headers.get("X-Amz-Date") != req["amz_date"]:
        print("sigv4_botocore.py: could not freeze botocore's clock "
              f"(X-Amz-Date {request.headers.get('X-Amz-Date')})", file=sys.stderr)
        return 4

    print(json.dumps({
        "authorization": request.headers["Authorization"],
        "x-amz-date": request.headers["X-Amz-Date"],
        "x-amz-security-token": request.headers.get("X-Amz-Security-Token", ""),
        "canonical_request": captured.get("canonical_request", ""),
        "string_to_sign": captured.get("string_to_sign", ""),
        "botocore_version": botocore.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
