"""Imports from the browser: uploads kept where the server says, zips unpacked
safely, server folders inside their root, the import as a job with its summary."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotator import uploads
from annotator.models import Exam, Job

URL = "/imports/"


@pytest.fixture
def upload_dir(settings, tmp_path):
    settings.ANNOTATOR_UPLOAD_DIR = tmp_path / "uploads"
    return settings.ANNOTATOR_UPLOAD_DIR


def manager_client(cast) -> Client:
    client = Client()
    client.force_login(cast.manager)
    return client


def files_of(wfdb_dir: Path, *names: str) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(n, (wfdb_dir / n).read_bytes()) for n in names]


def test_an_uploaded_wfdb_record_is_imported_by_a_job_with_its_summary(
    cast, wfdb_dir, upload_dir, inline_tasks, django_capture_on_commit_callbacks
):
    files = files_of(wfdb_dir, "s0010_re.hea", "s0010_re.dat", "s0010_re.xyz")
    files.append(SimpleUploadedFile("broken.hea", b"this is not a header\n"))
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client(cast).post(
            URL,
            {"action": "upload", "dataset": "ptb", "format": "auto", "files": files},
            follow=True,
        )
    assert "Import job #" in response.content.decode()
    job = Job.objects.get(kind="import")
    assert job.status == "succeeded", job.error
    assert job.result["imported"] == 1 and job.result["rejected"] == 1
    assert job.result["rejections"][0]["file"] == "broken.hea"
    assert job.result["rejections"][0]["reason"]
    assert Exam.objects.filter(dataset="ptb", exam_id="s0010_re").exists()
    # The rejections, all of them, as a CSV; the upload's folder is gone.
    api = Client()
    api.force_login(cast.manager)
    csv_text = b"".join(api.get(f"/api/jobs/{job.pk}/download/").streaming_content)
    assert csv_text.decode().splitlines()[0] == "file,exam_id,reason"
    assert "broken.hea" in csv_text.decode()
    assert not any(upload_dir.iterdir())


def test_names_never_choose_where_a_file_lands(upload_dir):
    for hostile in ("../../etc/passwd", "/abs/path.hea", "..\\..\\win.hea"):
        name = uploads.safe_name(hostile)
        assert "/" not in name and "\\" not in name and ".." not in name.split(".")[0:1]
    for hopeless in ("..", ".", "", "///"):
        with pytest.raises(uploads.UploadRefused):
            uploads.safe_name(hopeless)
    key, folder = uploads.new_folder()
    stored = uploads.store(
        [SimpleUploadedFile("../../escape.hea", b"x")], folder, max_bytes=10
    )
    assert stored == ["escape.hea"]
    assert (folder / "escape.hea").exists()
    assert not (upload_dir.parent / "escape.hea").exists()
    with pytest.raises(uploads.UploadRefused):
        uploads.folder_of("../" + key)


def _zip(entries: list[tuple[str, bytes]], *, link: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("entries", "link", "message"),
    [
        ([("../evil.hea", b"x")], None, "outside"),
        ([("/abs/evil.hea", b"x")], None, "outside"),
        ([("ok.hea", b"x")], "link.hea", "link"),
        ([("big.dat", b"0" * 5000)], None, "larger than"),
    ],
)
def test_a_hostile_zip_is_refused_and_nothing_stays(upload_dir, entries, link, message):
    _key, folder = uploads.new_folder()
    archive = SimpleUploadedFile("bundle.zip", _zip(entries, link=link))
    with pytest.raises(uploads.UploadRefused, match=message):
        uploads.store([archive], folder, max_bytes=4000)
    assert not folder.exists()
    assert not (upload_dir / "evil.hea").exists() and not Path("/abs/evil.hea").exists()


def test_a_zip_of_records_is_unpacked_with_its_folders(upload_dir, wfdb_dir):
    _key, folder = uploads.new_folder()
    archive = SimpleUploadedFile(
        "records.zip",
        _zip(
            [
                ("set/s0010_re.hea", (wfdb_dir / "s0010_re.hea").read_bytes()),
                ("set/s0010_re.dat", (wfdb_dir / "s0010_re.dat").read_bytes()),
            ]
        ),
    )
    stored = uploads.store([archive], folder, max_bytes=10**8)
    assert sorted(stored) == ["set/s0010_re.dat", "set/s0010_re.hea"]
    assert not (folder / "records.zip").exists()


def test_an_upload_over_the_limit_is_refused_before_it_is_read(
    cast, upload_dir, settings
):
    settings.ANNOTATOR_UPLOAD_MAX_MB = 1
    big = SimpleUploadedFile("big.dat", b"0" * (2 * 2**20))
    response = manager_client(cast).post(
        URL, {"action": "upload", "dataset": "x", "files": [big]}, follow=True
    )
    assert "larger than the limit of 1 MB" in response.content.decode()
    assert not Job.objects.exists()
    assert not upload_dir.exists() or not any(upload_dir.iterdir())


def test_server_folders_stay_inside_the_root(
    cast, settings, tmp_path, wfdb_dir, inline_tasks, django_capture_on_commit_callbacks
):
    root = tmp_path / "root"
    (root / "ptb").mkdir(parents=True)
    for name in ("s0010_re.hea", "s0010_re.dat", "s0010_re.xyz"):
        (root / "ptb" / name).write_bytes((wfdb_dir / name).read_bytes())
    outside = tmp_path / "secret"
    outside.mkdir()
    os.symlink(outside, root / "sneaky")
    settings.ANNOTATOR_IMPORT_ROOT = str(root)
    assert uploads.server_folders() == ["ptb"]  # the link is not offered
    for bad in ("../secret", "/etc", "sneaky", "ptb/../../secret", "missing"):
        with pytest.raises(uploads.UploadRefused):
            uploads.server_folder(bad)
    client = manager_client(cast)
    page = client.post(URL, {"action": "folder", "folder": "../secret"}, follow=True)
    assert "Not a folder under the import root" in page.content.decode()
    assert not Job.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(URL, {"action": "folder", "folder": "ptb"})
    job = Job.objects.get(kind="import")
    assert job.status == "succeeded" and job.result["imported"] == 1, job.result
    assert Exam.objects.filter(dataset="ptb").count() == 1
    assert (root / "ptb" / "s0010_re.hea").exists()  # a server folder is left as it was


def test_only_managers_import(cast, upload_dir):
    for user in (cast.reader1, cast.adjudicator):
        client = Client()
        client.force_login(user)
        assert client.get(URL).status_code == 404
        files = [SimpleUploadedFile("a.hea", b"x")]
        assert (
            client.post(
                URL, {"action": "upload", "dataset": "x", "files": files}
            ).status_code
            == 404
        )
    assert not Job.objects.exists()
    assert not upload_dir.exists() or not any(upload_dir.iterdir())


def test_an_upload_needs_files_and_a_dataset(cast, upload_dir):
    client = manager_client(cast)
    page = client.post(URL, {"action": "upload", "dataset": "x"}, follow=True)
    assert "Choose the files" in page.content.decode()
    page = client.post(
        URL,
        {"action": "upload", "files": [SimpleUploadedFile("a.hea", b"x")]},
        follow=True,
    )
    assert "Name the dataset" in page.content.decode()
    assert not Job.objects.exists()


def test_a_large_upload_already_on_disk_is_moved_not_copied(upload_dir):
    from django.core.files.uploadedfile import TemporaryUploadedFile

    upload = TemporaryUploadedFile("big.dat", "application/octet-stream", 0, None)
    upload.write(b"\x01" * 3_000_000)
    upload.flush()
    upload.size = 3_000_000
    spooled = Path(upload.temporary_file_path())
    _key, folder = uploads.new_folder()
    assert uploads.store([upload], folder, max_bytes=10**8) == ["big.dat"]
    assert (folder / "big.dat").stat().st_size == 3_000_000
    assert not spooled.exists()
    upload.close()  # Django's own clean-up after the move: no error


def test_readings_and_a_reference_standard_come_in_as_csv_jobs(
    cast, upload_dir, inline_tasks, django_capture_on_commit_callbacks
):
    from annotator.models import CampaignExam, Decision
    from tests import factories

    campaign = factories.make_campaign(cast, factories.make_exams(3))
    client = manager_client(cast)

    def post(name: str, text: str, **fields) -> Job:
        body = {
            "action": "csv",
            "campaign": campaign.pk,
            "files": [SimpleUploadedFile(name, text.encode())],
            **fields,
        }
        with django_capture_on_commit_callbacks(execute=True):
            client.post(URL, body, follow=True)
        return Job.objects.filter(kind="import").latest("id")

    job = post(
        "reads.csv",
        "exam_id,reader,labels\nE00000,reader1,SR\nE00000,reader2,AF\nE00001,reader1,XYZ\n",
        kind="readings",
    )
    assert job.status == "succeeded" and job.campaign_id == campaign.pk
    assert (job.result["imported"], job.result["rejected"]) == (2, 1)
    assert "XYZ" in job.result["rejections"][0]["reason"]
    assert Decision.objects.filter(assignment__campaign=campaign).count() == 2
    job = post(
        "gold.csv", "exam_id,labels\nE00002,AF\n", kind="reference", calibration="on"
    )
    assert job.status == "succeeded" and job.result["imported"] == 1, job.result
    link = CampaignExam.objects.get(campaign=campaign, exam__exam_id="E00002")
    assert link.consensus_state == "calibration"
    # Not a CSV, or no campaign: refused, nothing queued, nothing left behind.
    before = Job.objects.count()
    page = client.post(
        URL,
        {
            "action": "csv",
            "campaign": campaign.pk,
            "files": [SimpleUploadedFile("x.hea", b"x")],
        },
        follow=True,
    )
    assert "are CSV files" in page.content.decode()
    page = client.post(
        URL,
        {
            "action": "csv",
            "campaign": "nope",
            "files": [SimpleUploadedFile("a.csv", b"x")],
        },
        follow=True,
    )
    assert "Choose the campaign" in page.content.decode()
    assert Job.objects.count() == before
    assert not any(upload_dir.iterdir())
