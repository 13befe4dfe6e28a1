//! Question generation, measured: PDF text extraction per page on the real handouts and on
//! generated ones of growing length, then whole `POST /api/generate-questions` calls through
//! the stack with the offline generator and with the OpenAI provider against the local fake
//! (so the numbers are the platform's own cost, without a model's thinking time).
//!
//! `cargo bench -p e2e-tests --bench generation` (env: `ROUNDS`, default 5).

use std::time::{Duration, Instant};

use e2e_tests::{TestApp, fake_openai, pdfs, testdata};
use serde_json::json;
use shared::{ai::pdf, config::Secret};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("error").init();
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let limits = pdf::Limits {
        max_bytes: 100 << 20,
        max_pages: 10_000,
        time: Duration::from_secs(120),
    };

    println!("Text extraction (median of {rounds}):");
    println!(
        "  {:<40} {:>6} {:>10} {:>12}",
        "document", "pages", "total ms", "ms per page"
    );
    let mut documents: Vec<(String, Vec<u8>)> = [
        "pdfs/fr-masterclass-entreprise.pdf",
        "pdfs/libtasn1.pdf",
        "pdfs/shared-mime-info-spec.pdf",
    ]
    .iter()
    .map(|p| (p.to_string(), testdata(p).unwrap()))
    .collect();
    for pages in [10, 50, 200] {
        documents.push((
            format!("generated, {pages} pages"),
            pdfs::french_handout(pages),
        ));
    }
    for (name, bytes) in &documents {
        let mut samples = Vec::new();
        let mut pages = 0;
        for _ in 0..rounds {
            let started = Instant::now();
            let extracted = pdf::extract_blocking(bytes, limits, Instant::now() + limits.time)?;
            samples.push(started.elapsed());
            pages = extracted.pages;
        }
        let total = median(samples);
        println!(
            "  {name:<40} {pages:>6} {:>10.1} {:>12.2}",
            ms(total),
            ms(total) / pages as f64
        );
    }

    let fake = fake_openai::FakeOpenAi::start().await;
    let url = fake.url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.ai.openai_api_key = Some(Secret::new(fake_openai::KEY));
        c.ai.openai_base_url = url;
    })
    .await;
    let admin = app.admin().await;
    println!("\nPOST /api/generate-questions, 10 questions (median of {rounds}):");
    println!("  {:<40} {:>10}", "handout, provider", "ms");
    for (name, bytes) in [
        (
            "fr-masterclass-entreprise.pdf",
            testdata("pdfs/fr-masterclass-entreprise.pdf").unwrap(),
        ),
        ("libtasn1.pdf", testdata("pdfs/libtasn1.pdf").unwrap()),
        ("generated, 50 pages", pdfs::french_handout(50)),
    ] {
        for provider in ["offline", "openai"] {
            let mut samples = Vec::new();
            for _ in 0..rounds {
                // A fresh masterclass each time: a bank's own questions are never drawn twice.
                let id = app.masterclass(&admin, name, true).await;
                app.handout(&admin, &id, bytes.clone()).await;
                let started = Instant::now();
                let response = admin
                    .post_json(
                        "/api/generate-questions",
                        &json!({ "masterclass_id": id, "provider": provider }),
                    )
                    .await;
                samples.push(started.elapsed());
                anyhow::ensure!(
                    response.status == 201,
                    "{name} {provider}: {}",
                    String::from_utf8_lossy(&response.body)
                );
            }
            println!(
                "  {:<40} {:>10.1}",
                format!("{name}, {provider}"),
                ms(median(samples))
            );
        }
    }
    println!(
        "\n(the OpenAI rows use the local fake: HTTP, JSON schema, validation and storage, no model time)"
    );
    Ok(())
}
