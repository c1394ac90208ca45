package org.sparsesteer.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code sas} command line: each subcommand is a thin layer over the Java API. */
@Command(name = "sas", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Sparse Activation Steering for Gemma 2 on the JVM.",
        subcommands = {ForwardCommand.class, GenerateCommand.class, BuildCommand.class, SteerCommand.class, InspectCommand.class, EvalCommand.class,
                TrainSaeCommand.class, TrainModelCommand.class, DemoCommand.class,
                CommandLine.HelpCommand.class})
public final class Main {
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit code (0 ok, 1 failure, 2 bad usage); used by tests. */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("sas " + cmd.getCommandName() + ": error: " + e.getMessage());
            if (System.getenv("SAS_DEBUG") != null) e.printStackTrace(cmd.getErr());
            return 1;
        });
        return cl.execute(args);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            String kernels;
            try {
                kernels = org.sparsesteer.kernels.SasKernels.buildInfo();
            } catch (Throwable e) {  // --version must answer even where the native library cannot load
                kernels = "not loaded (" + e + ")";
            }
            return new String[] {"sas " + (v == null ? "dev" : v), "kernels: " + kernels};
        }
    }
}
