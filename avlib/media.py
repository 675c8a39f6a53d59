"""Reading and writing audio-video files with PyAV.

Small, dependency-free helpers used by the embedded-data generators (to write real
video files with a sound track) and by :mod:`avlib.features` (to decode them).

* :func:`write_video` writes frames ``(T, H, W, 3) uint8`` plus an optional sound track
  ``(C, N)`` float in [-1, 1] into any container FFmpeg can mux (``.mp4``, ``.mkv``,
  ``.avi``...). Video is H.264 (libx264) when the PyAV build has it, else MPEG-4 part 2;
  audio is AAC (``.mp4``/``.mkv``/``.mov``) or 16-bit PCM (``.avi``/``.wav``).
* :func:`probe` returns a dictionary describing a file without decoding it.
* :func:`read_audio` decodes the whole sound track at its native rate.
* :func:`read_frames_at` decodes the frames shown at given times, seeking when the
  container allows it instead of decoding every frame.

Every failure on a file (missing, truncated, corrupt, no stream of the wanted kind) raises
:class:`avlib.errors.MediaError`, whose message names the file.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from avlib.errors import MediaError

__all__ = [
    "video_codec",
    "write_video",
    "probe",
    "read_audio",
    "read_frames_at",
    "read_all_frames",
    "AAC_SAMPLE_RATES",
    "rgb_to_yuv420p",
]

#: Sample rates the AAC encoder accepts.
AAC_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)

_PCM_CONTAINERS = {".avi", ".wav"}


def video_codec() -> str:
    """Name of the video encoder used by :func:`write_video` ("libx264" or "mpeg4")."""
    import av

    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def _as_rate(fps) -> Fraction:
    if isinstance(fps, Fraction):
        return fps
    return Fraction(fps).limit_denominator(1001)


def write_video(
    path,
    frames: np.ndarray,
    *,
    fps,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    crf: int = 23,
    preset: str = "veryfast",
    audio_bitrate: int = 96_000,
) -> Path:
    """Write a video file with an optional sound track.

    Parameters
    ----------
    path : str or Path
        Output file; the container follows the extension (``.mp4`` recommended).
    frames : np.ndarray [shape=(T, H, W, 3), dtype=uint8]
        RGB frames. Odd heights/widths are cropped by one pixel (yuv420p needs even sizes).
    fps : int, float or Fraction
        Frame rate (e.g. 25, 29.97).
    audio : np.ndarray [shape=(C, N) or (N,)], optional
        Float samples in [-1, 1]; C = 1 (mono) or 2 (stereo). Values are clipped.
    sample_rate : int, optional
        Required with ``audio``. AAC accepts the rates in :data:`AAC_SAMPLE_RATES`.
    crf, preset : H.264 quality settings (ignored for MPEG-4, which uses a bit rate).
    audio_bitrate : int
        AAC bit rate in bit/s.

    Returns
    -------
    Path
        ``path``. The file is written to a temporary name first and renamed, so an
        interrupted call never leaves a half-written file under ``path``.

    Notes
    -----
    Encoding is single-threaded so that the same input always gives the same bytes
    for a given FFmpeg build (the generators run one file per process instead).
    """
    import av

    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if len(frames) == 0:
        raise ValueError("frames must contain at least one frame")
    h, w = frames.shape[1] - frames.shape[1] % 2, frames.shape[2] - frames.shape[2] % 2
    frames = frames[:, :h, :w]
    if audio is not None:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[None]
        if audio.ndim != 2 or audio.shape[0] not in (1, 2):
            raise ValueError(f"audio must be (C, N) with C in (1, 2), got {audio.shape}")
        if sample_rate is None:
            raise ValueError("sample_rate is required with audio")
        audio = np.clip(audio, -1.0, 1.0)
    rate = _as_rate(fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    pcm = path.suffix.lower() in _PCM_CONTAINERS
    try:
        with av.open(str(tmp), "w") as container:
            # AVI stores no presentation times: avoid B-frames there (MPEG-4 part 2)
            codec = "mpeg4" if path.suffix.lower() == ".avi" else video_codec()
            vs = container.add_stream(codec, rate=rate)
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            vs.codec_context.thread_count = 1
            if codec == "libx264":
                # mbtree=0: with macroblock-tree rate control this x264 build gave different
                # bytes for the same frames from call to call (found by the determinism tests)
                vs.options = {"crf": str(crf), "preset": preset, "threads": "1", "x264-params": "mbtree=0"}
            else:
                vs.bit_rate = 1_000_000
                vs.options = {"threads": "1"}
            as_ = None
            if audio is not None:
                layout = "mono" if audio.shape[0] == 1 else "stereo"
                if pcm:
                    as_ = container.add_stream("pcm_s16le", rate=int(sample_rate), layout=layout)
                else:
                    as_ = container.add_stream("aac", rate=int(sample_rate), layout=layout)
                    as_.bit_rate = audio_bitrate
                    # FFmpeg's fast AAC coder: about 2x faster than the default two-loop search
                    # (measured), which matters when a benchmark writes thousands of clips
                    as_.options = {"aac_coder": "fast"}
                as_.codec_context.thread_count = 1
            n_audio = 0 if audio is None else audio.shape[1]
            a_pos = 0
            for i, img in enumerate(frames):
                vf = _yuv_frame(img)
                vf.pts = i
                vf.time_base = Fraction(1, 1) / rate
                for packet in vs.encode(vf):
                    container.mux(packet)
                if as_ is not None:
                    # interleave: write the audio up to the end of this video frame
                    a_end = n_audio if i == len(frames) - 1 else min(
                        n_audio, int(round((i + 1) / rate * sample_rate)))
                    if a_end > a_pos:
                        _encode_audio(container, as_, audio[:, a_pos:a_end], a_pos, sample_rate, pcm)
                        a_pos = a_end
            if as_ is not None and a_pos < n_audio:
                _encode_audio(container, as_, audio[:, a_pos:], a_pos, sample_rate, pcm)
            for packet in vs.encode(None):
                container.mux(packet)
            if as_ is not None:
                for packet in as_.encode(None):
                    container.mux(packet)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def rgb_to_yuv420p(img: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) uint8 -> planar YUV 4:2:0 (H * 3 // 2, W) uint8, BT.601 limited range.

    Done in NumPy (not by FFmpeg's swscale) so that the bytes given to the encoder never
    depend on memory alignment: swscale's SIMD paths gave run-to-run differences at the
    right edge of frames whose width is not a multiple of 16.
    """
    x = img.astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
    cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
    h, w = y.shape

    def sub(c):
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    u, v = sub(cb), sub(cr)
    out = np.empty((h * 3 // 2, w), np.uint8)
    out[:h] = np.clip(np.round(y), 0, 255)
    out[h:h + h // 4] = np.clip(np.round(u), 0, 255).reshape(h // 4, w) if h % 4 == 0 else 0
    if h % 4 == 0:
        out[h + h // 4:] = np.clip(np.round(v), 0, 255).reshape(h // 4, w)
    else:  # PyAV's yuv420p layout needs the chroma planes packed row-wise
        flat = np.concatenate([np.clip(np.round(u), 0, 255).ravel(), np.clip(np.round(v), 0, 255).ravel()])
        out[h:] = flat.reshape(h // 2, w)
    return out


def _yuv_frame(img: np.ndarray):
    """A yuv420p VideoFrame whose row padding is filled too (edge-replicated), so the encoder
    never sees uninitialised bytes: x264 read them and made output differ between calls."""
    import av

    yuv = rgb_to_yuv420p(img)
    h, w = img.shape[:2]
    planes = [yuv[:h], yuv[h:].reshape(-1)[: (h // 2) * (w // 2)].reshape(h // 2, w // 2),
              yuv[h:].reshape(-1)[(h // 2) * (w // 2):].reshape(h // 2, w // 2)]
    frame = av.VideoFrame(w, h, "yuv420p")
    for plane, data in zip(frame.planes, planes):
        pad = plane.line_size - data.shape[1]
        if pad:
            data = np.pad(data, ((0, 0), (0, pad)), mode="edge")
        plane.update(np.ascontiguousarray(data).tobytes())
    return frame


def _encode_audio(container, stream, chunk, start, sample_rate, pcm):
    import av

    layout = "mono" if chunk.shape[0] == 1 else "stereo"
    if pcm:
        data = (np.clip(chunk, -1, 1) * 32767).round().astype(np.int16)
        data = np.ascontiguousarray(data.T.reshape(1, -1))
        af = av.AudioFrame.from_ndarray(data, format="s16", layout=layout)
    else:
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=layout)
    af.sample_rate = int(sample_rate)
    af.pts = int(start)
    af.time_base = Fraction(1, int(sample_rate))
    for packet in stream.encode(af):
        container.mux(packet)


def _open(path):
    import av

    path = Path(path)
    if not path.exists():
        raise MediaError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise MediaError(path, "file is empty (0 bytes)")
    try:
        return av.open(str(path))
    except Exception as exc:  # av.error.InvalidDataError and friends
        raise MediaError(path, f"cannot open container ({type(exc).__name__}: {exc})") from exc


def probe(path) -> dict:
    """Describe a media file without decoding it.

    Returns
    -------
    dict
        ``duration_s`` (float, container duration or longest stream), ``has_video``,
        ``has_audio``, ``width``, ``height``, ``fps`` (float, average rate), ``n_frames``
        (from the header, 0 if unknown), ``sample_rate``, ``channels``, ``video_codec``,
        ``audio_codec``.
    """
    with _open(path) as c:
        info = {"path": str(path), "has_video": False, "has_audio": False, "width": 0, "height": 0,
                "fps": 0.0, "n_frames": 0, "sample_rate": 0, "channels": 0,
                "video_codec": None, "audio_codec": None}
        durs = []
        if c.duration is not None:
            durs.append(c.duration / 1e6)
        if c.streams.video:
            v = c.streams.video[0]
            rate = v.average_rate or v.guessed_rate or v.base_rate
            info.update(has_video=True, width=v.codec_context.width, height=v.codec_context.height,
                        fps=float(rate) if rate else 0.0, n_frames=int(v.frames or 0),
                        video_codec=v.codec_context.name)
            if v.duration is not None and v.time_base is not None:
                durs.append(float(v.duration * v.time_base))
        if c.streams.audio:
            a = c.streams.audio[0]
            info.update(has_audio=True, sample_rate=int(a.codec_context.sample_rate or a.rate or 0),
                        channels=int(a.codec_context.channels or 0), audio_codec=a.codec_context.name)
            if a.duration is not None and a.time_base is not None:
                durs.append(float(a.duration * a.time_base))
        info["duration_s"] = max(durs) if durs else 0.0
    return info


def read_audio(path) -> tuple[np.ndarray, int]:
    """Decode the first audio stream at its native sample rate.

    Returns
    -------
    audio : np.ndarray [shape=(C, N), dtype=float32]
        Samples in [-1, 1] (integer formats are scaled).
    sample_rate : int

    Raises
    ------
    MediaError
        Missing/corrupt file, no audio stream, or no decodable samples.
    """
    import av

    path = Path(path)
    c = _open(path)
    try:
        if not c.streams.audio:
            raise MediaError(path, "no audio stream")
        stream = c.streams.audio[0]
        sr = int(stream.codec_context.sample_rate or stream.rate or 0)
        channels = int(stream.codec_context.channels or 1)
        resampler = None
        chunks = []
        try:
            for frame in c.decode(stream):
                if resampler is None:
                    channels = frame.layout.nb_channels if hasattr(frame.layout, "nb_channels") else len(frame.layout.channels)
                    sr = frame.sample_rate
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=sr)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            if resampler is not None:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray())
        except av.error.FFmpegError as exc:
            if not chunks:
                raise MediaError(path, f"audio stream cannot be decoded ({exc})") from exc
            # truncated file: keep what was decoded
        if not chunks:
            raise MediaError(path, "audio stream holds no samples")
        audio = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
        return audio.reshape(channels, -1) if audio.shape[0] != channels else audio, sr
    finally:
        c.close()


def _frame_rgb(frame, size=None):
    if size is None:
        return frame.to_ndarray(format="rgb24")
    return frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()


def read_frames_at(path, times, *, seek: bool = True, seek_gap: float = 2.0) -> np.ndarray:
    """Decode the frames on screen at the given times (seconds).

    For each time ``t`` the last frame whose presentation time is <= ``t`` is returned
    (the first frame for times before it, the last frame for times after the end). With
    ``seek=True`` the decoder seeks to the key frame before a time that lies more than
    ``seek_gap`` seconds after the last decoded frame, so a long video is not decoded in
    full; otherwise the file is decoded sequentially once. Only the returned frames are
    converted to RGB.

    Parameters
    ----------
    path : str or Path
    times : sequence of float
        Times in seconds from the start of the video stream, any order.

    Returns
    -------
    np.ndarray [shape=(len(times), H, W, 3), dtype=uint8]
        Frames in the order of ``times`` (H, W as stored: portrait stays portrait).
    """
    import av

    path = Path(path)
    times = np.asarray(times, dtype=float).ravel()
    if times.size == 0:
        raise ValueError("times is empty")
    order = np.argsort(times, kind="stable")
    out: list = [None] * len(times)
    c = _open(path)
    try:
        if not c.streams.video:
            raise MediaError(path, "no video stream")
        vs = c.streams.video[0]
        tb = vs.time_base
        start = float(vs.start_time * tb) if vs.start_time is not None else 0.0
        state = {"gen": iter(c.decode(vs)), "n": 0}

        def next_frame():
            try:
                frame = next(state["gen"])
            except StopIteration:
                return None
            except av.error.FFmpegError as exc:
                if state["n"] == 0:
                    raise MediaError(path, f"video stream cannot be decoded ({exc})") from exc
                return None  # truncated: stop here, keep what we have
            state["n"] += 1
            t = float(frame.pts * tb) - start if frame.pts is not None else 0.0
            return [t, frame, None]

        def rgb(entry):
            if entry[2] is None:
                entry[2] = entry[1].to_ndarray(format="rgb24")
                entry[1] = None
            return entry[2]

        last = look = None
        exhausted = False
        for idx in order:
            target = times[idx]
            ahead = look[0] if look is not None else (last[0] if last is not None else None)
            if seek and not exhausted and ahead is not None and target - ahead > seek_gap:
                try:
                    c.seek(int((target + start) / tb), stream=vs, backward=True, any_frame=False)
                    state["gen"] = iter(c.decode(vs))
                    look = None
                    keep = last
                    last = None
                except av.error.FFmpegError:
                    keep = None
            else:
                keep = None
            while not exhausted:
                if look is None:
                    look = next_frame()
                    if look is None:
                        exhausted = True
                        break
                if last is None or look[0] <= target + 1e-6:
                    last, look = look, None
                else:
                    break
            if last is None:
                last = keep
            if last is None:
                raise MediaError(path, "video stream holds no frames")
            out[idx] = rgb(last)
        return np.stack(out)
    finally:
        c.close()


def read_all_frames(path, *, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """Decode every frame (or the first ``max_frames``) of the first video stream.

    Returns ``(frames [T, H, W, 3] uint8, fps)``.
    """
    import av

    path = Path(path)
    c = _open(path)
    try:
        if not c.streams.video:
            raise MediaError(path, "no video stream")
        vs = c.streams.video[0]
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        frames = []
        try:
            for frame in c.decode(vs):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
        except av.error.FFmpegError as exc:
            if not frames:
                raise MediaError(path, f"video stream cannot be decoded ({exc})") from exc
        if not frames:
            raise MediaError(path, "video stream holds no frames")
        return np.stack(frames), float(rate) if rate else 0.0
    finally:
        c.close()
