//! Prints the blocks extracted from one page, for tuning: `cargo run --release -p copydesk-clean --example debug -- FILE`.
fn main() {
    let path = std::env::args().nth(1).expect("usage: debug FILE");
    let bytes = std::fs::read(&path).expect("readable file");
    let bytes = copydesk_clean::document::read(&bytes).expect("document");
    let decoded = copydesk_clean::charset::decode(&bytes, None, None);
    let capped = copydesk_clean::prescan::prepare(&decoded.text);
    eprintln!("prescan: {} -> {} bytes", decoded.text.len(), capped.len());
    let dom = copydesk_clean::dom::Dom::parse_document(&capped);
    let extracted = copydesk_clean::extract::extract(&dom, copydesk_clean::extract::Mode::Page, None, None);
    for line in copydesk_clean::extract::describe(&dom) {
        println!("{line}");
    }
    if let Some(needle) = std::env::args().nth(2) {
        for line in copydesk_clean::extract::explain(&dom, &needle) {
            println!("{line}");
        }
        return;
    }
    for b in &extracted.blocks {
        let t: String = b.text.chars().take(100).collect();
        println!("{:?} ld={:.2} | {t}", b.kind, b.link_density());
    }
}
