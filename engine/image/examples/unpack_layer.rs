//! Unpacks one layer tarball (plain, gzip or zstd) into an empty directory and prints what it
//! did and how long it took: the driver of `bench/image-unpack`.

use std::time::Instant;

use berth_image::unpack::{UnpackOptions, unpack_layer};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, layer, dest] = args.as_slice() else {
        eprintln!("usage: unpack_layer <layer.tar[.gz|.zst]> <empty-dir>");
        return std::process::ExitCode::from(2);
    };
    let file = match std::fs::File::open(layer) {
        Ok(f) => std::io::BufReader::new(f),
        Err(e) => {
            eprintln!("{layer}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let start = Instant::now();
    match unpack_layer(file, std::path::Path::new(dest), &UnpackOptions::default()) {
        Ok(s) => {
            let secs = start.elapsed().as_secs_f64();
            println!(
                "entries={} bytes={} seconds={secs:.3} entries_per_s={:.0} mib_per_s={:.1} diff_id={}",
                s.entries,
                s.bytes,
                s.entries as f64 / secs,
                s.bytes as f64 / secs / 1048576.0,
                s.diff_id
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("unpack failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
