"""The sample-bag generator (scripts/gen_kuavo_bag.py): real bags with exactly known content."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
from rosbags.rosbag1 import Reader
from support import ROOT

from spill2lerobot.bag.msgdef import typestore_for

DATA = ROOT / "tests" / "data"  # vendored copies of the published .msg files and a real bag
MSG_DIR = DATA / "kuavo_msgs"
REAL_BAG = DATA / "real-bags" / "kuavo_vr_session_group1.bag"


def _load_generator():
    if "gen_kuavo_bag" in sys.modules:
        return sys.modules["gen_kuavo_bag"]
    spec = importlib.util.spec_from_file_location("gen_kuavo_bag", ROOT / "scripts" / "gen_kuavo_bag.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_kuavo_bag"] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()

SECONDS = 3.0
W, H = 640, 480


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    path = tmp_path_factory.mktemp("bag") / "sample.bag"
    return gen.write_kuavo_bag(path, SECONDS, seed=3, depth=True)


@pytest.fixture(scope="module")
def messages(bag):
    """({topic: [(record time, raw bytes, message)]}, connections, typestore) of the bag."""
    out: dict[str, list] = {}
    with Reader(bag.path) as reader:
        store = typestore_for({c.msgtype: c.msgdef.data for c in reader.connections})
        for conn, stamp, raw in reader.messages():
            msg = store.deserialize_ros1(raw, conn.msgtype)
            out.setdefault(conn.topic, []).append((stamp, raw, msg))
        return out, list(reader.connections), store


def _genmsg_md5(name: str, texts: dict[str, str]) -> str:
    """genmsg's md5 text algorithm, written independently of rosbags."""
    package = name.split("/")[0]
    constants, fields = [], []
    for line in texts[name].splitlines():
        statement = line.split("#", 1)[0].strip()
        if not statement:
            continue
        typ, rest = statement.split(None, 1)
        if "=" in rest:
            cname, value = rest.split("=", 1)
            constants.append(f"{typ} {cname.strip()}={value.strip()}")
            continue
        base = typ.split("[")[0]
        if base in gen._BUILTIN_TYPES:
            fields.append(f"{typ} {rest.strip()}")
        else:
            dep = "std_msgs/Header" if base == "Header" else base
            dep = dep if "/" in dep else f"{package}/{dep}"
            fields.append(f"{_genmsg_md5(dep, texts)} {rest.strip()}")
    return hashlib.md5("\n".join(constants + fields).encode()).hexdigest()


# ---- message definitions --------------------------------------------------------------------


def test_embedded_msg_texts_are_the_files_byte_for_byte():
    files = {f"kuavo_msgs/{f.stem}": f.read_bytes() for f in MSG_DIR.glob("*.msg")}
    assert files.keys() == gen.KUAVO_MSG_TEXTS.keys()
    for name, data in files.items():
        assert gen.KUAVO_MSG_TEXTS[name].encode() == data, name


def test_full_text_is_what_rosbag_record_stores():
    with Reader(REAL_BAG) as reader:
        real = {c.msgtype: (c.msgdef.data, c.digest) for c in reader.connections}
    # The real robot's jointData names its last field joint_current; with that, our full text
    # and md5 are the recorded ones byte for byte.
    texts = dict(gen.MSG_TEXTS)
    texts["kuavo_msgs/jointData"] = texts["kuavo_msgs/jointData"].replace("joint_torque", "joint_current")
    assert gen.full_text(gen.SENSORS_TYPE, texts) == real[gen.SENSORS_TYPE][0]
    assert _genmsg_md5("kuavo_msgs/sensorsData", texts) == real[gen.SENSORS_TYPE][1]
    assert real[gen.SENSORS_TYPE][1] == "54439d3ac2ef33d46fd7cf6d324860c3"
    assert gen.MSG_DEFINITIONS[gen.JOINT_STATE_TYPE] == real[gen.JOINT_STATE_TYPE][0]
    assert gen.md5sum(gen.JOINT_STATE_TYPE) == real[gen.JOINT_STATE_TYPE][1]


@pytest.mark.parametrize("msgtype", gen.BAG_MSGTYPES)
def test_md5_is_genmsg_md5(msgtype):
    expected = _genmsg_md5(msgtype.replace("/msg/", "/"), gen.MSG_TEXTS)
    assert gen.md5sum(msgtype) == expected
    single = typestore_for({msgtype: gen.MSG_DEFINITIONS[msgtype]})
    assert single.generate_msgdef(msgtype)[1] == expected


def test_claw_state_constants_keep_their_names():
    store = gen.typestore()
    cls = store.types[gen.CLAW_STATE_TYPE]
    assert cls.kError == -1 and cls.kGrabbed == 3
    assert [f[0] for f in store.fielddefs[gen.CLAW_STATE_TYPE][1]] == ["header", "state", "data"]


# ---- the bag --------------------------------------------------------------------------------


@pytest.mark.slow
def test_connections(bag, messages):
    _, connections, _ = messages
    topics = {c.topic: c for c in connections}
    expected = {
        gen.SENSORS_TOPIC,
        gen.JOINT_CMD_TOPIC,
        gen.ARM_TRAJ_TOPIC,
        gen.CLAW_STATE_TOPIC,
        gen.CLAW_CMD_TOPIC,
        *gen.CAMERA_TOPICS.values(),
        *gen.DEPTH_TOPICS.values(),
    }
    assert set(topics) == expected
    for conn in connections:
        msgdef = conn.msgdef.data
        assert msgdef == gen.MSG_DEFINITIONS[conn.msgtype]
        if conn.msgtype.startswith("kuavo_msgs/"):
            own = gen.KUAVO_MSG_TEXTS[conn.msgtype.replace("/msg/", "/")]
            assert msgdef.startswith(own + "\n")
        md5 = typestore_for({conn.msgtype: msgdef}).generate_msgdef(conn.msgtype)[1]
        assert conn.digest == md5
        assert conn.ext.callerid and conn.ext.callerid.startswith("/")
    assert topics[gen.CLAW_STATE_TOPIC].msgdef.data.count("int8 kError = -1") == 1


@pytest.mark.slow
def test_counts_times_and_order(bag):
    with Reader(bag.path) as reader:
        assert reader.start_time == gen.DEFAULT_START_NS == bag.start_ns
        assert reader.end_time - 1 == bag.end_ns  # rosbags: end_time is exclusive
        counts = {c.topic: c.msgcount for c in reader.connections}
        stamps = [t for _, t, _ in reader.messages()]
    assert counts == bag.counts
    assert stamps == sorted(stamps)  # one global time order
    for topic, count in counts.items():
        assert count == pytest.approx(gen._RATES[topic] * SECONDS, abs=1)
    for topic in counts:
        times = gen.record_times(topic, SECONDS, 3)
        period = 1e9 / gen._RATES[topic]
        gaps = np.diff(times)
        assert gaps.min() > 0.5 * period and gaps.max() < 1.5 * period
        assert len(set(gaps.tolist())) > 1  # jittered
        assert times[0] >= gen.DEFAULT_START_NS and times[-1] < bag.start_ns + SECONDS * 1e9


def _t(stamp: int) -> float:
    return (stamp - gen.DEFAULT_START_NS) / 1e9


def _check_header(header, seq: int, stamp: int, frame_id: str = "") -> None:
    assert header.seq == seq
    assert header.stamp.sec * 10**9 + header.stamp.nanosec == stamp - gen.LATENCY_NS
    assert header.frame_id == frame_id


def _stack(items, get) -> np.ndarray:
    return np.stack([np.asarray(get(msg), dtype=np.float64) for _, _, msg in items])


def _check_exact(items, get, expected) -> None:
    """Field ``get(msg)`` of every message equals ``expected(t)`` at its record time."""
    t = np.array([_t(stamp) for stamp, _, _ in items])
    np.testing.assert_allclose(_stack(items, get), expected(t), rtol=0, atol=1e-10)


def _check_serialized(items, store, msgtype: str) -> None:
    for _, raw, msg in items[::37]:  # our numpy bytes are exactly what rosbags serializes
        assert store.serialize_ros1(msg, msgtype) == raw


@pytest.mark.slow
def test_sensors_data(messages):
    by_topic, _, store = messages
    items = by_topic[gen.SENSORS_TOPIC]
    for seq, (stamp, _, msg) in enumerate(items):
        _check_header(msg.header, seq, stamp, gen.SENSORS_FRAME_ID)
        assert msg.sensor_time == msg.header.stamp
        assert len(msg.end_effector_data.name) == len(msg.end_effector_data.position) == 0
    _check_exact(items, lambda m: m.joint_data.joint_q, gen.joint_q_at)
    _check_exact(items, lambda m: m.joint_data.joint_v, gen.joint_v_at)
    _check_exact(items, lambda m: m.joint_data.joint_vd, gen.joint_vd_at)
    _check_exact(items, lambda m: m.joint_data.joint_torque, gen.joint_torque_at)

    def imu(m):
        vectors = (m.imu_data.gyro, m.imu_data.acc, m.imu_data.free_acc)
        return [v for vec in vectors for v in (vec.x, vec.y, vec.z)] + [
            m.imu_data.quat.x,
            m.imu_data.quat.y,
            m.imu_data.quat.z,
            m.imu_data.quat.w,
        ]

    _check_exact(items, imu, gen.imu_at)
    _check_serialized(items, store, gen.SENSORS_TYPE)
    q = _stack(items, lambda m: m.joint_data.joint_q)
    assert q.shape == (len(items), 28) and np.abs(q).max() < 3
    # neighbouring messages differ clearly, so a test can tell which one was picked
    assert np.abs(np.diff(q, axis=0)).max(axis=1).min() > 1e-3


@pytest.mark.slow
def test_joint_cmd(messages):
    by_topic, _, store = messages
    items = by_topic[gen.JOINT_CMD_TOPIC]
    for seq, (stamp, _, msg) in enumerate(items):
        _check_header(msg.header, seq, stamp)
    _check_exact(items, lambda m: m.joint_q, gen.joint_cmd_at)
    _check_exact(items, lambda m: m.joint_v, gen.joint_cmd_v_at)
    _check_exact(items, lambda m: m.tau, gen.joint_cmd_tau_at)
    for name in ("tau_max", "tau_ratio", "joint_kp", "joint_kd", "control_modes"):
        constant = getattr(gen, f"JOINT_CMD_{name.upper().removeprefix('JOINT_')}")
        np.testing.assert_array_equal(
            _stack(items, lambda m, n=name: getattr(m, n)), np.broadcast_to(constant, (len(items), 28))
        )
    assert items[0][2].control_modes.dtype == np.int32
    _check_serialized(items, store, gen.JOINT_CMD_TYPE)


@pytest.mark.slow
def test_arm_traj(messages):
    by_topic, _, store = messages
    items = by_topic[gen.ARM_TRAJ_TOPIC]
    for seq, (stamp, _, msg) in enumerate(items):
        _check_header(msg.header, seq, stamp)
        assert msg.name == list(gen.ARM_JOINT_NAMES)
        assert len(msg.velocity) == len(msg.effort) == 0
    _check_exact(items, lambda m: m.position, gen.arm_traj_deg_at)
    _check_serialized(items, store, gen.JOINT_STATE_TYPE)
    degrees = _stack(items, lambda m: m.position)
    assert np.abs(degrees).max() > 20  # degrees, not radians
    assert np.abs(np.diff(degrees, axis=0)).max(axis=1).min() > 0.1


@pytest.mark.slow
@pytest.mark.parametrize("which", ["state", "cmd"])
def test_claws(messages, which):
    by_topic, _, store = messages
    topic = gen.CLAW_STATE_TOPIC if which == "state" else gen.CLAW_CMD_TOPIC
    items = by_topic[topic]
    for seq, (stamp, _, msg) in enumerate(items):
        _check_header(msg.header, seq, stamp)
        assert msg.data.name == list(gen.CLAW_NAMES)
        np.testing.assert_array_equal(msg.data.velocity, gen.CLAW_VELOCITY)
        np.testing.assert_array_equal(msg.data.effort, gen.CLAW_EFFORT)
    position = gen.claw_state_at if which == "state" else gen.claw_cmd_at
    _check_exact(items, lambda m: m.data.position, position)
    positions = _stack(items, lambda m: m.data.position)
    assert positions.min() >= 0 and positions.max() <= 100
    assert np.abs(np.diff(positions, axis=0)).max(axis=1).min() > 1e-3
    if which == "state":
        _check_exact(items, lambda m: m.state, gen.claw_status_at)
        assert items[0][2].state.dtype == np.int8
    _check_serialized(items, store, gen.CLAW_STATE_TYPE if which == "state" else gen.CLAW_CMD_TYPE)


def _decode(codec: str, data: bytes):
    frames = av.CodecContext.create(codec, "r").decode(av.Packet(data))
    assert len(frames) == 1
    return frames[0]


@pytest.mark.slow
def test_color_images_carry_camera_and_frame_number(bag, messages):
    by_topic, _, _ = messages
    for index, camera in enumerate(gen.CAMERAS):
        sizes = []
        for k, (stamp, _, msg) in enumerate(by_topic[gen.CAMERA_TOPICS[camera]]):
            _check_header(msg.header, k, stamp, f"{camera}_color_optical_frame")
            assert msg.format == gen.COLOR_FORMAT
            rgb = _decode("mjpeg", bytes(msg.data)).to_ndarray(format="rgb24")
            assert rgb.shape == (H, W, 3)
            assert gen.read_frame_code(rgb) == (index, k)
            sizes.append(len(msg.data))
        assert 55_000 < np.mean(sizes) < 105_000  # like real 640x480 camera JPEGs
    topic = gen.CAMERA_TOPICS["cam_h"]
    assert bag.image_bytes[topic] == sum(len(m.data) for _, _, m in by_topic[topic])


@pytest.mark.slow
def test_depth_images_are_expected_depth(messages):
    by_topic, _, _ = messages
    for index, camera in enumerate(gen.CAMERAS):
        for k, (stamp, _, msg) in enumerate(by_topic[gen.DEPTH_TOPICS[camera]]):
            if k % 4:  # PNG decoding is the slow part; every 4th frame is plenty
                continue
            _check_header(msg.header, k, stamp, f"{camera}_depth_optical_frame")
            assert msg.format == gen.DEPTH_FORMAT
            data = bytes(msg.data)
            assert data[:12] == gen.DEPTH_CONFIG_HEADER == b"\0" * 12
            frame = _decode("png", data[12:])
            assert frame.format.name == "gray16be"
            depth = frame.to_ndarray()
            expected = gen.expected_depth_mm(index, k, W, H)
            assert depth.dtype == np.uint16 and expected.dtype == np.uint16
            np.testing.assert_array_equal(depth, expected)
            assert depth.min() >= 300 and depth.max() <= 1400
            assert gen.read_depth_code(depth) == (index, k)


# ---- frame codes ----------------------------------------------------------------------------


def _jpeg_rgb(camera: int, k: int, width: int, height: int, content: str = "noise") -> np.ndarray:
    data = gen._JpegEncoder(width, height).encode(gen.frame_yuv(camera, k, width, height, content=content))
    return _decode("mjpeg", data).to_ndarray(format="rgb24")


def _video_round_trip(frames, codec: str, width: int, height: int) -> list[np.ndarray]:
    enc = av.CodecContext.create(codec, "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, 30)
    enc.gop_size = 2
    if codec == "libsvtav1":
        enc.options = {"crf": "30", "preset": "12"}
    else:
        enc.options = {"crf": "30", "preset": "veryfast"}
    enc.open()
    packets = []
    for pts, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame = frame.reformat(width=width, height=height, format="yuv420p")
        frame.pts = pts
        packets += enc.encode(frame)
    packets += enc.encode(None)
    dec = av.CodecContext.create("libdav1d" if codec == "libsvtav1" else "h264", "r")
    out = [f for p in packets for f in dec.decode(p)] + list(dec.decode(None))
    return [f.to_ndarray(format="rgb24") for f in out]


@pytest.mark.parametrize("codec", ["libsvtav1", "libx264"])
@pytest.mark.parametrize(
    ("source", "target"),
    [((640, 480), (640, 480)), ((640, 480), (64, 48)), ((64, 48), (64, 48))],
)
def test_frame_code_survives_video_coding_and_resizing(codec, source, target, monkeypatch):
    monkeypatch.setenv("SVT_LOG", "1")  # errors only
    codes = [(k % 3, k * 4099 + 7) for k in range(6)] + [(2, gen.MAX_FRAME_NUMBER)]
    frames = [_jpeg_rgb(c, k, *source) for c, k in codes]
    decoded = _video_round_trip(frames, codec, *target)
    assert len(decoded) == len(codes)
    assert [gen.read_frame_code(rgb) for rgb in decoded] == codes


def test_read_frame_code_rejects_images_without_a_code():
    rgb = _jpeg_rgb(1, 1234, 64, 48)
    assert gen.read_frame_code(rgb) == (1, 1234)
    broken = rgb.copy()
    broken[:12, :8] = 255 - broken[:12, :8]  # flip the first cell
    with pytest.raises(ValueError, match="check bits"):
        gen.read_frame_code(broken)
    for flat in (0, 255):
        with pytest.raises(ValueError):
            gen.read_frame_code(np.full((48, 64, 3), flat, np.uint8))
    with pytest.raises(ValueError):
        gen.read_frame_code(np.zeros((48, 64), np.uint8))
    with pytest.raises(ValueError):
        gen.frame_yuv(0, gen.MAX_FRAME_NUMBER + 1, 64, 48)


def test_frame_rgb_decodes_before_compression():
    assert gen.read_frame_code(gen.frame_rgb(2, 99, 320, 240)) == (2, 99)
    assert gen.read_frame_code(gen.frame_rgb(2, 99, 320, 240, content="scene")) == (2, 99)


@pytest.mark.parametrize("codec", ["libsvtav1", "libx264"])
def test_scene_content_keeps_its_codes_and_is_coherent_in_time(codec, monkeypatch):
    monkeypatch.setenv("SVT_LOG", "1")
    codes = [(1, k) for k in range(300, 360, 3)]  # every third frame, as at train_hz 10
    frames = [_jpeg_rgb(c, k, 320, 240, content="scene") for c, k in codes]
    assert [gen.read_frame_code(rgb) for rgb in _video_round_trip(frames, codec, 320, 240)] == codes
    # Coherent in time: where the code cells agree, the next used frame (panned 6 px) is much
    # closer to this one than with the noise content.
    a, b = (
        gen.frame_yuv(1, k, 320, 240, content=c)[:240].astype(np.int16) for k, c in ((300, "scene"), (303, "scene"))
    )
    noise_a, noise_b = (gen.frame_yuv(1, k, 320, 240)[:240].astype(np.int16) for k in (300, 303))
    (row_a, col_a), (row_b, col_b) = gen._pan_offset(1, 300), gen._pan_offset(1, 303)
    assert (row_a, col_a) != (row_b, col_b)
    same_cells = gen._code_bits(1, 300) == gen._code_bits(1, 303)
    keep = same_cells[gen._cell_map(320, 240)]
    scene_change = np.abs(a - b)[keep].mean()
    noise_change = np.abs(noise_a - noise_b)[keep].mean()
    assert scene_change < noise_change / 2


# ---- options --------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["lz4", "bz2"])
def test_compressed_small_bags_open(tmp_path, compression):
    path = tmp_path / f"{compression}.bag"
    summary = gen.write_kuavo_bag(
        path,
        1.0,
        width=64,
        height=48,
        cameras=["cam_h"],
        compression=compression,
        chunk_threshold=64 * 1024,
    )
    with Reader(path) as reader:
        assert len(reader.chunk_infos) > 1
        store = typestore_for({c.msgtype: c.msgdef.data for c in reader.connections})
        n = 0
        for conn, _, raw in reader.messages():
            msg = store.deserialize_ros1(raw, conn.msgtype)
            if conn.topic == gen.CAMERA_TOPICS["cam_h"]:
                rgb = _decode("mjpeg", bytes(msg.data)).to_ndarray(format="rgb24")
                assert rgb.shape == (48, 64, 3)
                assert gen.read_frame_code(rgb) == (0, msg.header.seq)
            n += 1
    with path.open("rb") as f:
        assert compression.encode() in f.read(200_000)
    assert n == summary.message_count
    assert set(summary.counts) == {
        gen.SENSORS_TOPIC,
        gen.JOINT_CMD_TOPIC,
        gen.ARM_TRAJ_TOPIC,
        gen.CLAW_STATE_TOPIC,
        gen.CLAW_CMD_TOPIC,
        gen.CAMERA_TOPICS["cam_h"],
    }


def test_same_seed_same_bytes_other_seed_other_times(tmp_path):
    kwargs = {"width": 64, "height": 48, "cameras": ["cam_l"]}
    a = gen.write_kuavo_bag(tmp_path / "a.bag", 0.5, seed=1, **kwargs)
    b = gen.write_kuavo_bag(tmp_path / "b.bag", 0.5, seed=1, **kwargs)
    c = gen.write_kuavo_bag(tmp_path / "c.bag", 0.5, seed=2, start_ns=4 * 10**18, **kwargs)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert c.start_ns == 4 * 10**18
    assert not np.array_equal(
        gen.record_times(gen.JOINT_CMD_TOPIC, 0.5, 1), gen.record_times(gen.JOINT_CMD_TOPIC, 0.5, 2)
    )


def test_fast_writer_writes_what_rosbags_writes(tmp_path):
    from rosbags.rosbag1 import Writer

    paths = []
    for cls in (Writer, gen._Writer):
        path = tmp_path / f"{cls.__name__}.bag"
        writer = cls(path)
        writer.chunk_threshold = 2000
        with writer:
            conns = [
                writer.add_connection(
                    topic,
                    gen.JOINT_STATE_TYPE,
                    msgdef=gen.MSG_DEFINITIONS[gen.JOINT_STATE_TYPE],
                    md5sum=gen.md5sum(gen.JOINT_STATE_TYPE),
                    callerid="/x",
                )
                for topic in ("/a", "/b")
            ]
            items = [(conns[i % 2], 10**18 + 999_999_000 + 7919 * i, bytes(i % 50) * 3) for i in range(60)]
            if cls is Writer:
                for item in items:
                    writer.write(*item)
            else:
                writer.write_many(items[:30])
                for item in items[30:]:
                    writer.write(*item)
        paths.append(path)
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli.bag"
    code = gen.main([str(out), "--seconds", "0.5", "--size", "64x48", "--depth", "--compression", "lz4"])
    assert code == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(str(out)) and "64x48" in line and "lz4" in line and "\n" not in line
    with Reader(out) as reader:
        assert {c.topic for c in reader.connections} >= set(gen.DEPTH_TOPICS.values())


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        gen.write_kuavo_bag(tmp_path / "x.bag", 1.0, width=63, height=48)
    with pytest.raises(ValueError):
        gen.write_kuavo_bag(tmp_path / "x.bag", 1.0, cameras=["cam_x"])
    with pytest.raises(ValueError):
        gen.write_kuavo_bag(tmp_path / "x.bag", 1.0, compression="zstd")
