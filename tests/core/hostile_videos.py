"""Uploads that make FFmpeg reach beyond the bytes it was given, when it is allowed to guess.

Each is what an attacker would send as a "video": descriptors that bind sockets or connect
(SDP, RTSP, HLS, DASH), read server files (ffconcat, concat:, file:, subfile, image2 lists),
or name protocols (tee, data:, pipe:). ``bench/fuzz_video.py`` sends the same ones.
"""

from __future__ import annotations

import base64

# A port nobody listens on: a connection attempt fails fast, a bind is visible to psutil.
PORT = 9

SDP = (
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
    f"m=video {PORT * 1000 + 4} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
).encode()


def descriptors(server_file: str = "/etc/hostname") -> dict[str, bytes]:
    """name -> upload bytes; ``server_file`` is a file on the server an attacker would read."""
    mp4_name = "\x00\x00\x00\x18ftypisom"
    return {
        "sdp": SDP,
        "sdp_rtp_multicast": SDP.replace(b"0.0.0.0", b"239.1.1.1/32"),
        "rtsp_url": f"rtsp://127.0.0.1:{PORT}/stream\n".encode(),
        "rtp_url": f"rtp://127.0.0.1:{PORT}\n".encode(),
        "ffconcat_server_file": f"ffconcat version 1.0\nfile '{server_file}'\n".encode(),
        "ffconcat_relative": b"ffconcat version 1.0\nfile 'docs/img/video_tracked_frame.png'\n",
        "hls_playlist": (
            "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n"
            f"http://127.0.0.1:{PORT}/a.ts\n#EXTINF:1,\nfile://{server_file}\n#EXT-X-ENDLIST\n"
        ).encode(),
        "hls_master": (
            f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://127.0.0.1:{PORT}/v.m3u8\n"
        ).encode(),
        "dash_mpd": (
            '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
            'mediaPresentationDuration="PT1S"><Period><AdaptationSet><Representation id="1" '
            f'bandwidth="1"><BaseURL>http://127.0.0.1:{PORT}/</BaseURL><SegmentList>'
            '<SegmentURL media="a.mp4"/></SegmentList></Representation></AdaptationSet>'
            "</Period></MPD>"
        ).encode(),
        "concat_protocol": f"concat:{server_file}|{server_file}".encode(),
        "file_url": f"file:{server_file}".encode(),
        "subfile": f"subfile,,start,0,end,100,,:{server_file}".encode(),
        "tee": f"tee:file:/tmp/x.mp4|udp://127.0.0.1:{PORT}".encode(),
        "data_uri": b"data:video/mp4;base64," + base64.b64encode(b"\x00" * 64),
        "pipe": b"pipe:0",
        "image2_list": b"%03d.jpg\n",
        "jpeg_image": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200 + b"\xff\xd9",
        "png_image": b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        "gif_image": b"GIF89a" + b"\x00" * 100,
        "ass_subtitles": b"[Script Info]\nScriptType: v4.00+\n",
        "srt_subtitles": b"1\n00:00:00,000 --> 00:00:01,000\nhello\n",
        "wav_audio": b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40,
        "flv": b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00" * 40,
        "ogg": b"OggS" + b"\x00" * 60,
        "empty_lines": b"\n" * 50,
        # An MP4 box header in front of a playlist: only the mov demuxer may read it.
        "mp4_prefixed_ffconcat": mp4_name.encode("latin-1")
        + f"\nffconcat version 1.0\nfile '{server_file}'\n".encode(),
        "ts_sync_then_hls": (b"G" + b"#EXTM3U\n" * 200)[: 188 * 4],
    }
