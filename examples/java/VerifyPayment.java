import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Verifies a signed payment message with paypki's verification service
 * ({@code POST /v1/verify}): what a gateway or bank does for every signed message.
 *
 * <pre>
 * PAYPKI_URL=http://127.0.0.1:8080 java VerifyPayment \
 *     --cert merchant/cert.pem --message order.json --signature order.sig --require-role merchant
 * </pre>
 *
 * <p>Exit status: 0 valid; 1 not valid (the CA answered with a reason); 2 the request is
 * wrong (the CA refused it: 400, 413, 415) or the arguments are; 3 no answer after the
 * retries (unreachable, time-out, 429, 5xx). A caller must fail closed on 3: no answer is
 * not "valid" (docs/verification.md, "What a caller must handle").
 *
 * <p>Only the JDK: {@code java.net.http} for HTTP, {@link Json} (beside this file) for JSON.
 */
public final class VerifyPayment {
    /** Statuses after which the same request may succeed later. */
    private static final Set<Integer> RETRYABLE = Set.of(429, 500, 502, 503, 504);

    /** Why no verdict came; carries the exit status. */
    static final class NoVerdict extends Exception {
        private static final long serialVersionUID = 1L;
        final int status;

        NoVerdict(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    public static void main(String[] args) throws InterruptedException {
        String url = System.getenv().getOrDefault("PAYPKI_URL", "http://127.0.0.1:8080");
        String cert = null, message = null, signature = null, role = null;
        boolean cms = false;
        int attempts = 4;
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--url" -> url = args[++i];
                    case "--cert" -> cert = args[++i];
                    case "--message" -> message = args[++i];
                    case "--signature" -> signature = args[++i];
                    case "--require-role" -> role = args[++i];
                    case "--cms" -> cms = true;
                    case "--attempts" -> attempts = Integer.parseInt(args[++i]);
                    default -> throw new IllegalArgumentException("unknown argument " + args[i]);
                }
            }
            if (cert == null || message == null || signature == null) {
                throw new IllegalArgumentException("give --cert, --message and --signature");
            }
        } catch (RuntimeException e) {
            System.err.println("usage: VerifyPayment --cert PEM --message FILE --signature FILE"
                    + " [--cms] [--require-role ROLE] [--url URL] [--attempts N]: " + e.getMessage());
            System.exit(2);
        }

        String body;
        try {
            Base64.Encoder b64 = Base64.getEncoder();
            StringBuilder json = new StringBuilder("{");
            json.append("\"certificate\":").append(Json.quote(Files.readString(Path.of(cert))));
            json.append(",\"message\":").append(Json.quote(b64.encodeToString(Files.readAllBytes(Path.of(message)))));
            json.append(",\"signature\":").append(Json.quote(b64.encodeToString(Files.readAllBytes(Path.of(signature)))));
            if (cms) {
                json.append(",\"format\":\"cms\"");
            }
            if (role != null) {
                json.append(",\"require_role\":").append(Json.quote(role));
            }
            body = json.append('}').toString();
        } catch (IOException e) {
            System.err.println("error: " + e);
            System.exit(2);
            return;
        }

        try {
            Object verdict = verify(url.replaceAll("/+$", ""), body, attempts);
            if (Boolean.TRUE.equals(Json.get(verdict, "valid"))) {
                Object signer = Json.get(verdict, "signer");
                System.out.println("valid: " + Json.get(signer, "subject") + " (" + Json.get(signer, "role")
                        + ", serial " + Json.get(signer, "serial") + "), " + Json.get(verdict, "algorithm"));
                System.exit(0);
            }
            // A verdict: the same request gets the same answer, so it is not retried.
            System.out.println("not valid: " + Json.get(verdict, "reason") + ": " + Json.get(verdict, "message"));
            System.exit(1);
        } catch (NoVerdict e) {
            System.err.println("no verdict: " + e.getMessage());
            System.exit(e.status);
        }
    }

    /** POSTs the request, retrying what may succeed later; returns the parsed verdict. */
    static Object verify(String url, String body, int attempts) throws NoVerdict, InterruptedException {
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create(url + "/v1/verify"))
                .timeout(Duration.ofSeconds(10))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        double delay = 0.2;
        String last = "no attempt made";
        for (int attempt = 1; attempt <= attempts; attempt++) {
            try {
                HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
                int status = response.statusCode();
                if (status == 200) {
                    return Json.parse(response.body());
                }
                String detail = problemDetail(response.body());
                if (!RETRYABLE.contains(status)) {
                    throw new NoVerdict(2, "the CA refused the request (HTTP " + status + "): " + detail);
                }
                last = "HTTP " + status + ": " + detail;
                String retryAfter = response.headers().firstValue("Retry-After").orElse("");
                if (retryAfter.matches("\\d+")) {
                    delay = Math.max(delay, Double.parseDouble(retryAfter));
                }
            } catch (ConnectException | HttpTimeoutException e) {
                // Verification changes nothing on the CA: a retry is always safe.
                last = "cannot reach " + url + ": " + e;
            } catch (IOException e) {
                last = "the connection failed: " + e;
            }
            if (attempt < attempts) {
                // Exponential back-off with jitter, so that gateways do not retry in step.
                Thread.sleep((long) (1000 * delay * (0.5 + ThreadLocalRandom.current().nextDouble())));
                delay *= 2;
            }
        }
        throw new NoVerdict(3, "no answer after " + attempts + " attempts: " + last);
    }

    /** The detail of an RFC 9457 problem document, or the body as it is. */
    static String problemDetail(String body) {
        try {
            Object detail = Json.get(Json.parse(body), "detail");
            return detail != null ? detail.toString() : body;
        } catch (IllegalArgumentException e) {
            return body;
        }
    }
}
