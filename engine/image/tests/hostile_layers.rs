//! The hostile-layer corpus: crafted tarballs that try to escape or abuse the layer directory.
//! Each test unpacks next to a canary directory and proves nothing outside the layer changed,
//! and that the unpack fails with the expected typed error where it must.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth_image::fsops::lgetxattr;
use berth_image::unpack::{Limits, UnpackError, UnpackOptions, unpack_layer};
use common::{Canary, E, RawTar, require_root};
use tar::EntryType as T;

fn run(c: &Canary, tar: &[u8]) -> Result<berth_image::unpack::UnpackStats, UnpackError> {
    unpack_layer(tar, &c.layer, &UnpackOptions::default())
}

fn run_with(
    c: &Canary,
    tar: &[u8],
    limits: Limits,
) -> Result<berth_image::unpack::UnpackStats, UnpackError> {
    let opts = UnpackOptions {
        limits,
        privileged: true,
    };
    unpack_layer(tar, &c.layer, &opts)
}

macro_rules! expect_err {
    ($res:expr, $pat:pat) => {{
        let r = $res;
        match r {
            Err(ref e @ $pat) => {
                assert!(!e.to_string().is_empty());
                eprintln!("refused as expected: {e}");
            }
            other => panic!("expected {}, got {other:?}", stringify!($pat)),
        }
    }};
}

#[test]
fn dotdot_path_is_refused() {
    require_root("dotdot_path_is_refused");
    let c = Canary::new();
    let tar = RawTar::new()
        .add(E::file(b"../outside/pwned", b"x"))
        .finish();
    expect_err!(run(&c, &tar), UnpackError::PathEscapes { .. });
    c.assert_untouched();
}

#[test]
fn nested_dotdot_path_is_refused() {
    require_root("nested_dotdot_path_is_refused");
    let c = Canary::new();
    let tar = RawTar::new()
        .add(E::dir(b"a/"))
        .add(E::file(b"a/../../outside/canary", b"x"))
        .finish();
    expect_err!(run(&c, &tar), UnpackError::PathEscapes { .. });
    c.assert_untouched();
}

#[test]
fn absolute_path_is_confined_to_layer() {
    require_root("absolute_path_is_confined_to_layer");
    let c = Canary::new();
    let p = format!("{}/pwned", c.outside_abs());
    let tar = RawTar::new().add(E::file(p.as_bytes(), b"x")).finish();
    run(&c, &tar).unwrap();
    c.assert_untouched();
    assert_eq!(
        fs::read(c.layer.join(format!("{}/pwned", c.outside_rel()))).unwrap(),
        b"x"
    );
}

#[test]
fn write_through_symlink_to_outside_is_refused() {
    require_root("write_through_symlink_to_outside_is_refused");
    let c = Canary::new();
    let abs = c.outside_abs();
    let tar = RawTar::new()
        .add(E::symlink(b"ln", abs.as_bytes()))
        .add(E::file(b"ln/pwned", b"x"))
        .finish();
    expect_err!(run(&c, &tar), UnpackError::UnsafeParent { .. });
    c.assert_untouched();
}

#[test]
fn relative_symlink_parent_is_refused() {
    require_root("relative_symlink_parent_is_refused");
    let c = Canary::new();
    let tar = RawTar::new()
        .add(E::symlink(b"ln", b"../outside"))
        .add(E::file(b"ln/canary", b"x"))
        .finish();
    expect_err!(run(&c, &tar), UnpackError::UnsafeParent { .. });
    c.assert_untouched();
}

#[test]
fn symlink_to_root_then_file_under_it_is_refused() {
    require_root("symlink_to_root_then_file_under_it_is_refused");
    let c = Canary::new();
    let p = format!("root/{}/pwned", c.outside_rel());
    let tar = RawTar::new()
        .add(E::symlink(b"root", b"/"))
        .add(E::file(p.as_bytes(), b"x"))
        .finish();
    expect_err!(run(&c, &tar), UnpackError::UnsafeParent { .. });
    c.assert_untouched();
}

#[test]
fn file_over_symlink_replaces_link_not_target() {
    require_root("file_over_symlink_replaces_link_not_target");
    let c = Canary::new();
    let target = format!("{}/canary", c.outside_abs());
    let tar = RawTar::new()
        .add(E::symlink(b"ln", target.as_bytes()))
        .add(E::file(b"ln", b"pwned"))
        .finish();
    run(&c, &tar).unwrap();
    c.assert_untouched();
    let m = fs::symlink_metadata(c.layer.join("ln")).unwrap();
    assert!(m.is_file());
    assert_eq!(fs::read(c.layer.join("ln")).unwrap(), b"pwned");
}

#[test]
fn directory_over_symlink_replaces_link() {
    require_root("directory_over_symlink_replaces_link");
    let c = Canary::new();
    let abs = c.outside_abs();
    let tar = RawTar::new()
        .add(E::symlink(b"d", abs.as_bytes()))
        .add(E::dir(b"d/"))
        .add(E::file(b"d/canary", b"x"))
        .finish();
    run(&c, &tar).unwrap();
    c.assert_untouched();
    assert!(fs::symlink_metadata(c.layer.join("d")).unwrap().is_dir());
}

#[test]
fn hardlink_to_absolute_outside_path_is_refused() {
    require_root("hardlink_to_absolute_outside_path_is_refused");
    let c = Canary::new();
    let target = format!("{}/canary", c.outside_abs());
    let tar = RawTar::new()
        .add(E::hardlink(b"hl", target.as_bytes()))
        .finish();
    expect_err!(run(&c, &tar), UnpackError::BadHardlink { .. });
    c.assert_untouched();
}

#[test]
fn hardlink_with_dotdot_is_refused() {
    require_root("hardlink_with_dotdot_is_refused");
    let c = Canary::new();
    let tar = RawTar::new()
        .add(E::hardlink(b"hl", b"../outside/canary"))
        .finish();
    expect_err!(run(&c, &tar), UnpackError::BadHardlink { .. });
    c.assert_untouched();
}

#[test]
fn hardlink_through_symlinked_dir_is_refused() {
    require_root("hardlink_through_symlinked_dir_is_refused");
    let c = Canary::new();
    let abs = c.outside_abs();
    let tar = RawTar::new()
        .add(E::symlink(b"d", abs.as_bytes()))
        .add(E::hardlink(b"hl", b"d/canary"))
        .finish();
    expect_err!(run(&c, &tar), UnpackError::BadHardlink { .. });
    c.assert_untouched();
}

#[test]
fn hardlink_to_symlink_links_the_link_itself() {
    require_root("hardlink_to_symlink_links_the_link_itself");
    let c = Canary::new();
    let target = format!("{}/canary", c.outside_abs());
    let tar = RawTar::new()
        .add(E::symlink(b"s", target.as_bytes()))
        .add(E::hardlink(b"hl", b"s"))
        .finish();
    run(&c, &tar).unwrap();
    c.assert_untouched();
    let m = fs::symlink_metadata(c.layer.join("hl")).unwrap();
    assert!(
        m.file_type().is_symlink(),
        "hardlink must point at the symlink inode"
    );
    assert_eq!(m.nlink(), 2);
}

#[test]
fn hardlink_to_directory_is_refused() {
    require_root("hardlink_to_directory_is_refused");
    let c = Canary::new();
    let tar = RawTar::new()
        .add(E::dir(b"d/"))
        .add(E::hardlink(b"hl", b"d"))
        .finish();
    expect_err!(run(&c, &tar), UnpackError::BadHardlink { .. });
    c.assert_untouched();
}

#[test]
fn whiteout_of_dotdot_is_refused() {
    require_root("whiteout_of_dotdot_is_refused");
    for name in [&b".wh..."[..], b"a/.wh..", b".wh."] {
        let c = Canary::new();
        let tar = RawTar::new().add(E::file(name, b"")).finish();
        expect_err!(run(&c, &tar), UnpackError::InvalidWhiteout { .. });
        c.assert_untouched();
    }
}

#[test]
fn whiteout_of_absolute_path_stays_inside() {
    require_root("whiteout_of_absolute_path_stays_inside");
    let c = Canary::new();
    let p = format!("{}/.wh.canary", c.outside_abs());
    let tar = RawTar::new().add(E::file(p.as_bytes(), b"")).finish();
    run(&c, &tar).unwrap();
    c.assert_untouched();
    let wh = c.layer.join(format!("{}/canary", c.outside_rel()));
    let m = fs::symlink_metadata(wh).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), 0);
}

#[test]
fn whiteout_prefix_in_parent_component_is_refused() {
    require_root("whiteout_prefix_in_parent_component_is_refused");
    let c = Canary::new();
    let tar = RawTar::new().add(E::file(b".wh.etc/passwd", b"")).finish();
    expect_err!(run(&c, &tar), UnpackError::InvalidWhiteout { .. });
    c.assert_untouched();
}

#[test]
fn device_nodes_are_created_inside_when_root() {
    require_root("device_nodes_are_created_inside_when_root");
    let c = Canary::new();
    let mut null = E::new(b"dev/null", T::Char);
    null.dev = (1, 3);
    null.mode = 0o666;
    let mut sda = E::new(b"dev/sda", T::Block);
    sda.dev = (8, 0);
    let tar = RawTar::new()
        .add(null)
        .add(sda)
        .add(E::new(b"dev/fifo", T::Fifo))
        .finish();
    run(&c, &tar).unwrap();
    c.assert_untouched();
    let m = fs::symlink_metadata(c.layer.join("dev/null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(m.mode() & 0o7777, 0o666);
    assert!(
        fs::symlink_metadata(c.layer.join("dev/sda"))
            .unwrap()
            .file_type()
            .is_block_device()
    );
    assert!(
        fs::symlink_metadata(c.layer.join("dev/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

#[test]
fn devices_refused_when_unprivileged() {
    let c = Canary::new();
    let mut null = E::new(b"null", T::Char);
    null.dev = (1, 3);
    let tar = RawTar::new().add(null).finish();
    let opts = UnpackOptions {
        limits: Limits::default(),
        privileged: false,
    };
    expect_err!(
        unpack_layer(&tar[..], &c.layer, &opts),
        UnpackError::NeedsPrivilege { .. }
    );
    c.assert_untouched();
}

#[test]
fn huge_declared_size_is_refused_before_reading() {
    require_root("huge_declared_size_is_refused_before_reading");
    let c = Canary::new();
    let mut e = E::file(b"sparse", b"");
    e.pax
        .push(("size".into(), (1u64 << 40).to_string().into_bytes()));
    let tar = RawTar::new().add(e).finish();
    let limits = Limits {
        max_total_size: 1 << 30,
        ..Limits::default()
    };
    expect_err!(run_with(&c, &tar, limits), UnpackError::TooLarge { .. });
    c.assert_untouched();
}

#[test]
fn deep_nesting_is_refused() {
    require_root("deep_nesting_is_refused");
    let c = Canary::new();
    let p = "d/".repeat(300) + "f";
    let tar = RawTar::new().add(E::file(p.as_bytes(), b"x")).finish();
    expect_err!(run(&c, &tar), UnpackError::PathTooDeep { .. });
    c.assert_untouched();
}

#[test]
fn very_long_name_is_refused() {
    require_root("very_long_name_is_refused");
    let c = Canary::new();
    let p = "n".repeat(10_000);
    let tar = RawTar::new().add(E::file(p.as_bytes(), b"x")).finish();
    expect_err!(run(&c, &tar), UnpackError::PathTooLong { .. });
    c.assert_untouched();
}

#[test]
fn pax_size_mismatch_is_refused() {
    require_root("pax_size_mismatch_is_refused");
    let c = Canary::new();
    let mut e = E::file(b"f", b"0123456789");
    e.pax.push(("size".into(), b"4000".to_vec()));
    let mut t = RawTar::new();
    t.add(e);
    let tar = t.buf.clone();
    let r = run(&c, &tar);
    assert!(
        matches!(
            r,
            Err(UnpackError::Truncated { .. } | UnpackError::Archive(_))
        ),
        "{r:?}"
    );
    c.assert_untouched();
}

#[test]
fn truncated_entry_is_refused() {
    require_root("truncated_entry_is_refused");
    let c = Canary::new();
    let data = vec![7u8; 4096];
    let mut t = RawTar::new();
    t.add(E::file(b"f", &data));
    let cut = t.buf.len() - 3000;
    let r = run(&c, &t.buf[..cut]);
    assert!(
        matches!(
            r,
            Err(UnpackError::Truncated { .. } | UnpackError::Archive(_))
        ),
        "{r:?}"
    );
    c.assert_untouched();
}

fn bomb_tar() -> Vec<u8> {
    let zeros = vec![0u8; 48 << 20];
    RawTar::new().add(E::file(b"zeros", &zeros)).finish()
}

fn bomb_limits() -> Limits {
    Limits {
        max_ratio: 20,
        ratio_slack: 1 << 20,
        ..Limits::default()
    }
}

#[test]
fn gzip_bomb_is_refused() {
    require_root("gzip_bomb_is_refused");
    let c = Canary::new();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&bomb_tar()).unwrap();
    let gz = enc.finish().unwrap();
    expect_err!(
        run_with(&c, &gz, bomb_limits()),
        UnpackError::DecompressionBomb { .. }
    );
    c.assert_untouched();
}

#[test]
fn zstd_bomb_is_refused() {
    require_root("zstd_bomb_is_refused");
    let c = Canary::new();
    let zst = zstd::encode_all(&bomb_tar()[..], 3).unwrap();
    expect_err!(
        run_with(&c, &zst, bomb_limits()),
        UnpackError::DecompressionBomb { .. }
    );
    c.assert_untouched();
}

#[test]
fn dir_replaced_by_symlink_then_write_is_refused() {
    require_root("dir_replaced_by_symlink_then_write_is_refused");
    let c = Canary::new();
    let abs = c.outside_abs();
    let tar = RawTar::new()
        .add(E::dir(b"d/"))
        .add(E::file(b"d/inner", b"x"))
        .add(E::symlink(b"d", abs.as_bytes()))
        .add(E::file(b"d/pwned", b"x"))
        .finish();
    expect_err!(run(&c, &tar), UnpackError::UnsafeParent { .. });
    c.assert_untouched();
}

#[test]
fn forged_overlay_xattrs_are_dropped() {
    require_root("forged_overlay_xattrs_are_dropped");
    let c = Canary::new();
    let mut d = E::dir(b"d/");
    d.pax.push((
        "SCHILY.xattr.trusted.overlay.redirect".into(),
        b"/etc".to_vec(),
    ));
    d.pax
        .push(("SCHILY.xattr.user.note".into(), b"kept".to_vec()));
    let tar = RawTar::new().add(d).finish();
    run(&c, &tar).unwrap();
    c.assert_untouched();
    let p = c.layer.join("d");
    assert_eq!(lgetxattr(&p, "trusted.overlay.redirect").unwrap(), None);
    assert_eq!(
        lgetxattr(&p, "user.note").unwrap().as_deref(),
        Some(&b"kept"[..])
    );
}

#[test]
fn opaque_whiteout_after_siblings_marks_dir() {
    require_root("opaque_whiteout_after_siblings_marks_dir");
    let c = Canary::new();
    let tar = RawTar::new()
        .add(E::dir(b"d/"))
        .add(E::file(b"d/a", b"a"))
        .add(E::file(b"d/.wh..wh..opq", b""))
        .add(E::file(b"e/.wh..wh..opq", b""))
        .finish();
    run(&c, &tar).unwrap();
    c.assert_untouched();
    for d in ["d", "e"] {
        let v = lgetxattr(&c.layer.join(d), "trusted.overlay.opaque").unwrap();
        assert_eq!(v.as_deref(), Some(&b"y"[..]), "{d}");
    }
    assert_eq!(fs::read(c.layer.join("d/a")).unwrap(), b"a");
    assert!(!c.layer.join("d/.wh..wh..opq").exists());
}

#[test]
fn setuid_ownership_and_times_are_kept() {
    require_root("setuid_ownership_and_times_are_kept");
    let c = Canary::new();
    let target = format!("{}/canary", c.outside_abs());
    let mut f = E::file(b"bin/su", b"elf");
    f.mode = 0o4755;
    f.uid = 1000;
    f.gid = 2000;
    f.mtime = 1_234_567_890;
    let mut s = E::symlink(b"bin/link", target.as_bytes());
    s.uid = 3000;
    s.gid = 3000;
    s.mtime = 1_111_111_111;
    let mut d = E::dir(b"bin/");
    d.mode = 0o750;
    d.mtime = 1_000_000_000;
    let mut big = E::file(b"bin/pax", b"");
    big.pax.push(("uid".into(), b"5000000".to_vec()));
    let tar = RawTar::new().add(d).add(f).add(s).add(big).finish();
    run(&c, &tar).unwrap();
    c.assert_untouched();
    let m = fs::symlink_metadata(c.layer.join("bin/su")).unwrap();
    assert_eq!(
        (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()),
        (0o4755, 1000, 2000, 1_234_567_890)
    );
    let m = fs::symlink_metadata(c.layer.join("bin/link")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mtime()), (3000, 3000, 1_111_111_111));
    let m = fs::symlink_metadata(c.layer.join("bin")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.mtime()), (0o750, 1_000_000_000));
    assert_eq!(
        fs::symlink_metadata(c.layer.join("bin/pax")).unwrap().uid(),
        5_000_000
    );
}

#[test]
fn too_many_entries_is_refused() {
    require_root("too_many_entries_is_refused");
    let c = Canary::new();
    let mut t = RawTar::new();
    let names: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
    for n in &names {
        t.add(E::file(n.as_bytes(), b""));
    }
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    expect_err!(
        run_with(&c, &t.finish(), limits),
        UnpackError::TooManyEntries { limit: 10 }
    );
    c.assert_untouched();
}

#[test]
fn well_formed_layer_round_trips_with_diff_id() {
    require_root("well_formed_layer_round_trips_with_diff_id");
    let tar = RawTar::new()
        .add(E::dir(b"etc/"))
        .add(E::file(b"etc/hostname", b"box\n"))
        .add(E::hardlink(b"etc/hostname2", b"etc/hostname"))
        .add(E::symlink(b"etc/h", b"hostname"))
        .add(E::file(b".wh.gone", b""))
        .finish();
    let expected =
        berth_image::digest::Digest::of_bytes(berth_image::digest::Algorithm::Sha256, &tar);
    let gz = {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&tar).unwrap();
        enc.finish().unwrap()
    };
    let zst = zstd::encode_all(&tar[..], 1).unwrap();
    for input in [&tar, &gz, &zst] {
        let c = Canary::new();
        let stats = run(&c, input).unwrap();
        c.assert_untouched();
        assert_eq!(stats.diff_id, expected);
        assert_eq!(stats.entries, 5);
        assert_eq!(fs::read(c.layer.join("etc/hostname2")).unwrap(), b"box\n");
        assert_eq!(
            fs::metadata(c.layer.join("etc/hostname")).unwrap().nlink(),
            2
        );
        assert_eq!(
            fs::read_link(c.layer.join("etc/h")).unwrap().to_str(),
            Some("hostname")
        );
        assert!(
            fs::symlink_metadata(c.layer.join("gone"))
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
}

/// A GNU sparse entry: 512 bytes of data stored, but a real size of 1 TiB with the data at the
/// very end. Refused from the header, before a single hole byte is written.
#[test]
fn huge_gnu_sparse_file_is_refused() {
    require_root("huge_gnu_sparse_file_is_refused");
    let c = Canary::new();
    let real = 1u64 << 40;
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..6].copy_from_slice(b"sparse");
    h.set_entry_type(T::GNUSparse);
    h.set_size(512);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.sparse[0].set_offset(real - 512);
    gnu.sparse[0].set_length(512);
    gnu.set_real_size(real);
    gnu.set_is_extended(false);
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend([b'x'; 512]);
    tar.extend([0u8; 1024]);
    let limits = Limits {
        max_total_size: 1 << 30,
        ..Limits::default()
    };
    expect_err!(run_with(&c, &tar, limits), UnpackError::TooLarge { .. });
    c.assert_untouched();
    assert!(!c.layer.join("sparse").exists());
}

#[test]
fn chained_symlinks_to_outside_are_not_followed() {
    require_root("chained_symlinks_to_outside_are_not_followed");
    let c = Canary::new();
    let abs = c.outside_abs();
    let tar = RawTar::new()
        .add(E::symlink(b"b", abs.as_bytes()))
        .add(E::symlink(b"a", b"b"))
        .add(E::file(b"a/canary", b"pwned"))
        .finish();
    expect_err!(run(&c, &tar), UnpackError::UnsafeParent { .. });
    c.assert_untouched();
}

#[test]
fn file_over_hardlink_does_not_write_through_shared_inode() {
    require_root("file_over_hardlink_does_not_write_through_shared_inode");
    let c = Canary::new();
    let tar = RawTar::new()
        .add(E::file(b"f", b"orig"))
        .add(E::hardlink(b"hl", b"f"))
        .add(E::file(b"hl", b"new"))
        .finish();
    run(&c, &tar).unwrap();
    c.assert_untouched();
    assert_eq!(fs::read(c.layer.join("f")).unwrap(), b"orig");
    assert_eq!(fs::read(c.layer.join("hl")).unwrap(), b"new");
}
