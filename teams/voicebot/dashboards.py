"""Voicebot ROI: costs, business KPIs, performance, calls and problems (original: shared/seeds/voicebot.md)."""
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from dashboards import SELECTOR as SEL
from dashboards import (
    bargauge_panel, board, number, piechart_panel, quantile, query, row, stat_panel, threshold_line, thresholds,
    timeseries_panel,
)
RANGE = "$__range"  # ROI stats are totals over the time range: a few calls per hour make short windows empty


def total(metric: str, window: str = RANGE, matchers: str = "") -> str:
    extra = f", {matchers}" if matchers else ""
    return f"sum(increase({metric}{{{SEL}{extra}}}[{window}]))"


def api_cost(v: dict, window: str = RANGE) -> str:
    """USD spent on ElevenLabs + Deepgram + Groq over `window`, at the stack's prices."""
    return (
        f"({total('voicebot_elevenlabs_characters_total', window)} * {number(v['elevenlabs_usd_per_char'])}"
        f" + {total('voicebot_deepgram_audio_seconds_total', window)} / 60 * {number(v['deepgram_usd_per_audio_minute'])}"
        f" + ({total('voicebot_groq_tokens_input_total', window)} + {total('voicebot_groq_tokens_output_total', window)})"
        f" * {number(v['groq_usd_per_token'])})"
    )


def latency(title: str, metric: str, by: str, limit: float | None = None):
    """p50 and p95 of a histogram, per `by` label when given."""
    label = f" {{{{{by}}}}}" if by else ""
    queries = [query(quantile(metric, q, by=by), f"p{q[2:]}{label}") for q in ("0.50", "0.95")]
    panel = timeseries_panel(title, "s", *queries, w=6, h=8)
    return threshold_line(panel, limit) if limit is not None else panel


def colour(name: str, color: str) -> tuple[str, list[DynamicConfigValue]]:
    return name, [DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})]


def dashboards(team):
    v = team.variables  # prices, per stack
    limit = team.thresholds  # the thresholds the alerts use in this stack
    calls = total("voicebot_calls_total")
    resolved = total("voicebot_calls_total", matchers='status="completed"')
    cache_hits = total("voicebot_elevenlabs_requests_total", matchers='type="cache_hit"')
    tts_requests = total("voicebot_elevenlabs_requests_total", matchers='type=~"cache_hit|api_call"')
    return [
        board("voicebot-roi", "Voicebot ROI", refresh="30s", time_from="now-24h", tags=("voicebot",),
              description="What does each call cost, does the voicebot resolve calls on its own, and does it answer fast?")
        .with_row(row("Costs"))
        .with_panel(stat_panel("Cost per Call", "currencyUSD", query(f"{api_cost(v)} / {calls}", instant=True),
                               w=8, h=4, steps=thresholds("green", limit["CostPerCallRunaway"], "red"),
                               description="(ElevenLabs characters + Deepgram audio minutes + Groq tokens) x price, "
                                           "divided by calls handled, over the time range"))
        .with_panel(stat_panel("TTS Cache Savings", "percent",
                               query(f"{cache_hits} / {tts_requests} * 100", instant=True),
                               w=8, h=4, min=0, max=100,
                               description="TTS requests served from cache / (cache hits + ElevenLabs API calls)"))
        .with_panel(stat_panel("Total API Cost Today", "currencyUSD", query(api_cost(v), instant=True),
                               w=8, h=4,
                               description="ElevenLabs + Deepgram + Groq spend since midnight (browser time)")
                    .time_from("now/d"))
        .with_row(row("Business KPIs"))
        .with_panel(stat_panel("Calls Handled", "short", query(f"round({calls})", instant=True),
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
        .with_panel(latency("LLM Latency (by task)", "voicebot_llm_response_seconds", "task", limit["VoicebotLLMLatencyHigh"]))
        .with_panel(latency("TTS Latency (cache vs ElevenLabs)", "voicebot_tts_response_seconds", "source"))
        .with_panel(stat_panel("Concurrent Calls", "short", query(f"sum(voicebot_active_calls{{{SEL}}})"),
                               w=6, h=8, steps=thresholds("green", min(5, limit["HighConcurrentCalls"]), "yellow", limit["HighConcurrentCalls"], "red")).decimals(0))
        .with_row(row("Calls and Problems"))
        .with_panel(timeseries_panel("Calls per Hour", "short",
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
