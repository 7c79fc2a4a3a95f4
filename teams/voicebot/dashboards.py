"""Voicebot ROI: costs, business KPIs, performance, calls and problems (original: shared/seeds/voicebot.md)."""
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from dashboards import SELECTOR as SEL
from dashboards import (
    alert_line, alert_thresholds, bargauge_panel, board, piechart_panel, quantile, query, row, stat_panel,
    timeseries_panel,
)
RANGE = "$__range"  # ROI stats are totals over the time range: a few calls per hour make short windows empty
CALLS = "suffix: calls"  # the original's unit for calls; Grafana prints the value then " calls"
# (custom units `suffix:<text>`: grafana/grafana packages/grafana-data/src/valueFormats/valueFormats.ts)


def total(metric: str, window: str = RANGE, matchers: str = "") -> str:
    extra = f", {matchers}" if matchers else ""
    return f"sum(increase({metric}{{{SEL}{extra}}}[{window}]))"


def latency(title: str, metric: str, by: str, rule=None):
    """p50 and p95 of a histogram, per `by` label when given; with `rule`, coloured where it fires."""
    label = f" {{{{{by}}}}}" if by else ""
    queries = [query(quantile(metric, q, by=by), f"p{q[2:]}{label}") for q in ("0.50", "0.95")]
    panel = timeseries_panel(title, "s", *queries, w=6, h=8)
    return alert_line(panel, rule) if rule is not None else panel


def colour(name: str, color: str) -> tuple[str, list[DynamicConfigValue]]:
    return name, [DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})]


def dashboards(team):
    # team.yaml's expressions over the time range, at the stack's prices (the alert reads them over 1h)
    calls = team.expression("calls", window=RANGE)
    cost_per_call = team.rule("CostPerCallRunaway")
    resolved = total("voicebot_calls_total", matchers='status="completed"')
    cache_hits = total("voicebot_elevenlabs_requests_total", matchers='type="cache_hit"')
    tts_requests = total("voicebot_elevenlabs_requests_total", matchers='type=~"cache_hit|api_call"')
    return [
        board("voicebot-roi", "Voicebot ROI", refresh="30s", time_from="now-24h", tags=("voicebot",),
              description="What does each call cost, does the voicebot resolve calls on its own, and does it answer fast?")
        .with_row(row("Costs"))
        .with_panel(stat_panel("Cost per Call", "currencyUSD",
                               query(team.expression("cost_per_call", window=RANGE), instant=True),
                               w=6, h=4, steps=alert_thresholds(cost_per_call),
                               description="(ElevenLabs characters + Deepgram audio minutes + Groq tokens) x price, "
                                           "divided by calls handled, over the time range"))
        .with_panel(stat_panel("TTS Cache Savings", "percent",
                               query(f"{cache_hits} / {tts_requests} * 100", instant=True),
                               w=6, h=4, min=0, max=100,
                               description="TTS requests served from cache / (cache hits + ElevenLabs API calls)"))
        .with_panel(stat_panel("TTS Cache Savings (USD)", "currencyUSD",
                               query(team.expression("tts_cache_savings", window=RANGE), instant=True),
                               w=6, h=4,
                               description="What the cache hits would have cost at ElevenLabs: hits x characters of "
                                           "an average ElevenLabs call x the price per character, over the time range"))
        .with_panel(stat_panel("Total API Cost Today", "currencyUSD",
                               query(team.expression("api_cost", window=RANGE), instant=True),
                               w=6, h=4,
                               description="ElevenLabs + Deepgram + Groq spend since midnight (browser time)")
                    .time_from("now/d"))
        .with_row(row("Business KPIs"))
        .with_panel(stat_panel("Calls Handled", CALLS, query(f"round({calls})", instant=True),
                               w=6, h=6).decimals(0))
        .with_panel(stat_panel("Automatic Resolution Rate", "percent",
                               query(f"{resolved} / {calls} * 100", instant=True),
                               w=6, h=6, min=0, max=100,
                               description="Calls completed by the voicebot without a human / all calls"))
        .with_panel(stat_panel("Average Call Duration", "s",
                               query(f"{total('voicebot_call_duration_seconds_sum')} / {total('voicebot_call_duration_seconds_count')}",
                                     instant=True),
                               w=6, h=6))
        .with_panel(piechart_panel("Client Sentiment Distribution", "short",
                                   query(f"sum by (sentiment) (increase(voicebot_client_sentiment_total{{{SEL}}}[{RANGE}]))",
                                         "{{sentiment}}", instant=True),
                                   w=6, h=6)
                    .override_by_name(*colour("positive", "green"))
                    .override_by_name(*colour("neutral", "yellow"))
                    .override_by_name(*colour("negative", "red")))
        .with_row(row("Performance"))
        .with_panel(latency("STT Latency", "voicebot_stt_response_seconds", ""))
        .with_panel(latency("LLM Latency (by task)", "voicebot_llm_response_seconds", "task",
                            team.rule("VoicebotLLMLatencyHigh")))
        .with_panel(latency("TTS Latency (cache vs ElevenLabs)", "voicebot_tts_response_seconds", "source"))
        .with_panel(stat_panel("Concurrent Calls", CALLS, query(f"sum(voicebot_active_calls{{{SEL}}})"),
                               # the original's bands: green below 5, yellow to the alert's threshold, red above
                               w=6, h=8, steps=alert_thresholds(team.rule("HighConcurrentCalls"), warning=5,
                                                                warning_color="yellow")).decimals(0))
        .with_row(row("Calls and Problems"))
        .with_panel(timeseries_panel("Calls per Hour", CALLS,
                                     query(f"sum(rate(voicebot_calls_total{{{SEL}}}[1h])) * 3600", "calls/h"),
                                     w=12, h=8, description="Calls over the preceding hour (the original's rate([1h]) * 3600)"))
        .with_panel(piechart_panel("Problem Type Distribution", "short",
                                   query(f"sum by (problem_type) (increase(voicebot_calls_total{{{SEL}}}[{RANGE}]))",
                                         "{{problem_type}}", instant=True),
                                   w=6, h=8))
        .with_panel(bargauge_panel("Tickets by Severity", "short",
                                   query(f"sum by (severity) (increase(voicebot_tickets_created_total{{{SEL}}}[{RANGE}]))",
                                         "{{severity}}", instant=True),
                                   w=6, h=8).decimals(0))
    ]
